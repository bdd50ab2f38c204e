"""Draw one synthetic image of a small surface-mount package (SOT-23-like), good or defective.

The part is described in its own coordinates (pixels, centred on the body), posed by a random scale, rotation and
shift, and drawn with PIL; lighting, blur and sensor noise are applied to the finished picture. Defects vary in
kind and severity so that some are obvious and some are barely visible at the demo size, as in the real data.
"""
from __future__ import annotations

import string

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DEFECT_KINDS = ("scratch", "chip", "lead", "particles", "crack")
DEFECT_ODDS = (0.35, 0.2, 0.15, 0.15, 0.15)
_FONT = ImageFont.load_default()


class _Pose:
    """Maps part coordinates to image pixels: scale, rotate by `angle` radians, then move the centre to (cx, cy)."""

    def __init__(self, rng, h: int, w: int):
        self.scale = rng.uniform(0.92, 1.08)
        self.angle = np.deg2rad(np.clip(rng.normal(0, 2.5), -7, 7))
        self.cx = w / 2 + rng.uniform(-0.06, 0.06) * w
        self.cy = h / 2 + rng.uniform(-0.06, 0.06) * h

    def __call__(self, pts) -> list[tuple[float, float]]:
        pts = np.asarray(pts, dtype=np.float64) * self.scale  # (P, 2) as x, y
        c, s = np.cos(self.angle), np.sin(self.angle)
        x = pts[:, 0] * c - pts[:, 1] * s + self.cx
        y = pts[:, 0] * s + pts[:, 1] * c + self.cy
        return list(zip(x.tolist(), y.tolist()))


def _rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _shade(level: float) -> int:
    return int(np.clip(round(level), 0, 255))


def draw_part(rng: np.random.Generator, h: int, w: int, defective: bool, border_scratch: bool):
    """Return (image uint8 HxW, box [x1, y1, x2, y2] of the defects in pixels or None)."""
    u = min(h, w)
    bg, body, metal = rng.uniform(12, 35), rng.uniform(85, 135), rng.uniform(150, 205)
    bw, bh = 0.24 * u, 0.17 * u  # half sizes of the body
    lw, ll = 0.065 * u, 0.13 * u  # lead half width and length
    leads = [(0.0, -1), (-0.55 * bw, 1), (0.55 * bw, 1)]  # (x of centre, side: -1 top, +1 bottom)

    kinds = []
    if defective:
        n = 1 + int(rng.random() < 0.3)
        kinds = list(rng.choice(DEFECT_KINDS, size=n, p=DEFECT_ODDS))
    # Severity 0 is barely visible at 64x64, 1 is obvious; the square root tilts the mix toward the visible.
    severity = rng.uniform(size=len(kinds)) ** 0.5
    pose = _Pose(rng, h, w)
    img = Image.new("L", (w, h), _shade(bg))
    d = ImageDraw.Draw(img)
    marks: list[tuple[float, float]] = []  # posed points of every defect, for the box

    bad_lead, bent = -1, 0.0
    if "lead" in kinds:
        bad_lead = int(rng.integers(len(leads)))
        sev = severity[kinds.index("lead")]
        bent = 0.0 if rng.random() < 0.4 else float(rng.choice([-1, 1]) * (0.25 + 0.6 * sev))
    for i, (x, side) in enumerate(leads):
        y0, y1 = side * bh, side * (bh + ll)
        tip = bent * ll if i == bad_lead else 0.0
        pts = pose([(x - lw, y0), (x + lw, y0), (x + lw + tip, y1), (x - lw + tip, y1)])
        if i == bad_lead:
            marks += pts
            if bent == 0.0:  # a missing lead: only a faint stub of solder is left
                stub = y0 + side * 0.15 * ll
                pts = pose([(x - lw, y0), (x + lw, y0), (x + lw, stub), (x - lw, stub)])
        d.polygon(pts, fill=_shade(metal))
    d.polygon(pose(_rect(-bw, -bh, bw, bh)), fill=_shade(body))
    _engrave(img, rng, pose, bw, bh, body)

    for kind, sev in zip(kinds, severity):
        if kind == "scratch":
            marks += _scratch(d, rng, pose, bw, bh, body, sev)
        elif kind == "chip":
            marks += _chip(d, rng, pose, bw, bh, bg, sev)
        elif kind == "particles":
            marks += _particles(d, rng, pose, bw, bh, sev)
        elif kind == "crack":
            marks += _crack(d, rng, pose, bw, bh, body, sev)
    if border_scratch:
        _border_scratch(d, rng, h, w)

    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    x = np.asarray(img, dtype=np.float32)
    x = x * _lighting(rng, h, w) + rng.uniform(-8, 8)
    x += rng.normal(0, rng.uniform(2, 4), size=x.shape).astype(np.float32)
    box = None
    if marks:
        m = np.array(marks)
        box = [max(0.0, m[:, 0].min()), max(0.0, m[:, 1].min()), min(w - 1.0, m[:, 0].max()),
               min(h - 1.0, m[:, 1].max())]
    return np.clip(x, 0, 255).round().astype(np.uint8), box


def _lighting(rng, h, w) -> np.ndarray:
    """A gain field: overall exposure, a linear gradient and one soft specular highlight."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / h - 0.5, xx / w - 0.5
    gx, gy = rng.uniform(-0.25, 0.25, size=2)
    hx, hy = rng.uniform(-0.25, 0.25, size=2)
    spot = rng.uniform(0, 0.2) * np.exp(-((xx - hx) ** 2 + (yy - hy) ** 2) / (2 * rng.uniform(0.05, 0.15) ** 2))
    return rng.uniform(0.8, 1.15) * (1 + gx * xx + gy * yy + spot)


def _engrave(img, rng, pose, bw, bh, body) -> None:
    """Engraved marking: two short lines of letters, darker or lighter than the body, turned with the part."""
    chars = string.ascii_uppercase + string.digits
    text = "\n".join("".join(rng.choice(list(chars), size=int(rng.integers(3, 6)))) for _ in range(2))
    mask = Image.new("L", (int(2 * bw), int(2 * bh)), 0)
    ImageDraw.Draw(mask).multiline_text((bw, bh), text, fill=255, font=_FONT, anchor="mm", align="center")
    mask = mask.rotate(-np.rad2deg(pose.angle), expand=True, resample=Image.BILINEAR)
    level = _shade(body + rng.choice([-1, 1]) * rng.uniform(12, 30))
    cx, cy = pose([(0, 0)])[0]
    img.paste(level, (int(cx - mask.width / 2), int(cy - mask.height / 2)), mask)


def _on_body(rng, bw, bh, margin=0.9):
    return rng.uniform(-margin * bw, margin * bw), rng.uniform(-margin * bh, margin * bh)


def _scratch(d, rng, pose, bw, bh, body, sev):
    """A thin straight line, mostly brighter than the body (it catches the light); the hardest kind in the real data."""
    x0, y0 = _on_body(rng, bw, bh)
    a, length = rng.uniform(0, np.pi), (0.5 + 0.7 * rng.random()) * bw
    x1 = float(np.clip(x0 + length * np.cos(a), -bw, bw))
    y1 = float(np.clip(y0 + length * np.sin(a), -bh, bh))
    pts = pose([(x0, y0), (x1, y1)])
    d.line(pts, fill=_shade(body + (35 + 90 * sev) * (1 if rng.random() < 0.8 else -1)), width=2 + int(sev > 0.5))
    return pts


def _chip(d, rng, pose, bw, bh, bg, sev):
    """A corner broken off the body, showing background."""
    sx, sy = rng.choice([-1, 1], size=2)
    a, b = (0.1 + 0.4 * sev) * bw * rng.uniform(0.6, 1.4), (0.1 + 0.4 * sev) * bh * rng.uniform(0.6, 1.4)
    pts = pose([(sx * bw, sy * bh), (sx * (bw - a), sy * bh), (sx * bw, sy * (bh - b))])
    d.polygon(pts, fill=_shade(bg))
    return pts


def _particles(d, rng, pose, bw, bh, sev):
    """Contamination: a few small bright (metal residue) or dark blobs on or near the body."""
    pts = []
    for _ in range(int(rng.integers(1, 5))):
        (x, y), = pose([_on_body(rng, bw, bh, 1.1)])
        r = 1.5 + 4 * sev * rng.uniform(0.5, 1)
        d.ellipse([x - r, y - r, x + r, y + r], fill=_shade(rng.choice([10, 240]) + rng.uniform(-10, 10)))
        pts += [(x - r, y - r), (x + r, y + r)]
    return pts


def _crack(d, rng, pose, bw, bh, body, sev):
    """A jagged dark line running across the body."""
    n = int(rng.integers(4, 9))
    xs = np.linspace(-bw, bw, n) * rng.uniform(0.4, 1.0)
    ys = np.clip(np.cumsum(rng.normal(0, 0.25 * bh, size=n)) + rng.uniform(-0.5, 0.5) * bh, -bh, bh)
    pts = pose(np.stack([xs, ys], 1) if rng.random() < 0.5 else np.stack([ys * bw / bh, xs * bh / bw], 1))
    d.line(pts, fill=_shade(body - 25 - 60 * sev), width=2 + int(sev > 0.5))
    return pts


def _border_scratch(d, rng, h, w) -> None:
    """A nuisance: a bright streak along the image border, which is not a defect of the part (the
    report "Nexperia Image Classification II" saw such scratches mislead models)."""
    edge, depth = int(rng.integers(4)), rng.uniform(1, 14)
    t0 = rng.uniform(0, 0.6)
    t1 = t0 + rng.uniform(0.15, 0.4)
    slope = rng.uniform(-4, 4)
    if edge < 2:  # top or bottom
        y = depth if edge == 0 else h - 1 - depth
        pts = [(t0 * w, y), (t1 * w, y + slope)]
    else:
        x = depth if edge == 2 else w - 1 - depth
        pts = [(x, t0 * h), (x + slope, t1 * h)]
    d.line(pts, fill=_shade(rng.uniform(90, 200)), width=1 + int(rng.random() < 0.3))
