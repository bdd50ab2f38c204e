"""Decode each image once into a uint8 array memory-mapped on disk.

The cache is keyed by the file list (relative path, size, mtime of each file) and the size options, so a changed
folder or a new image size builds a new one. A build writes `<key>.npy` and `<key>.json` under temporary names and
renames them into place (the json last, as the mark of a finished build): an interrupted build leaves nothing that
a later run would take for a cache, and simply starts again.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from ..errors import UserError
from ..io import WriteFailed
from .config import DataConfig

log = logging.getLogger("darts_nexp.data")
VERSION = 3  # 2: 16-bit and float images scaled to 0..255 (1 clipped them to white); 3: EXIF orientation applied
STALE_S = 3600  # temp files older than this are left over from a killed build
# What PIL raises on a corrupt, truncated or unsupported file (struct.error, IndexError, ZeroDivisionError and
# EOFError come from damaged headers); decode() adds ValueError for pixels it cannot scale to 0..255.
UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, IndexError, ZeroDivisionError, struct.error,
              Image.DecompressionBombError)


@dataclass
class Decoded:
    images: np.ndarray  # (N, 1, H, W) uint8 memmap, zeros where the file was unreadable
    ok: np.ndarray  # (N,) bool
    sizes: np.ndarray  # (N, 2) original H, W (0 where unreadable)
    digests: list[str]  # sha1 of the file bytes, for exact duplicates
    failed: list[list[str]]  # [relative path, reason]


def region(h: int, w: int, cfg: DataConfig) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the part of an HxW image that is scaled to cfg.image_size."""
    b = cfg.crop_border
    ch, cw = h - 2 * b, w - 2 * b
    if ch < 1 or cw < 1:
        raise ValueError(f"image of {h}x{w} is smaller than twice crop_border={b}")
    top, left = b, b
    if cfg.resize == "crop":
        oh, ow = cfg.image_size
        top, left = top + max(0, ch - oh) // 2, left + max(0, cw - ow) // 2
        ch, cw = min(ch, oh), min(cw, ow)
    return top, left, ch, cw


def to_gray8(im: Image.Image) -> Image.Image:
    """Any image PIL opens -> 8-bit gray ("L"), scaled to the full 0..255 range; ValueError where that is not sure.

    8-bit images (gray, RGB, RGBA, palette, 1-bit, CMYK, ...) go through PIL's convert("L") (ITU-R 601 weights).
    PIL's convert clips 16-bit and float pixels at 255 instead of scaling them, so those are scaled here: 16-bit
    containers ("I;16*", and "I" with values in 0..65535) are divided by 257 (65535 -> 255); float ("F") images
    in 0..1 are multiplied by 255 and those in 0..255 kept. Anything else (negative or wider integers, floats
    outside both ranges or not finite) raises ValueError, so the file is listed as unreadable, never decoded
    as garbage. (16-bit RGB and RGBA files are already reduced to 8 bits per channel by PIL.)
    """
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im)
        if a.dtype.kind not in "iu":
            raise ValueError(f"unexpected pixel type {a.dtype} for PIL mode {mode}")
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise ValueError(f"integer pixels in {lo}..{hi} do not fit 16 bits (0..65535); "
                             f"save the image as 8- or 16-bit unsigned gray")
        return Image.fromarray(((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8))  # round(a/257)
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError("float pixels include NaN or infinity; save the image as 8- or 16-bit")
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo < 0 or hi > 255:
            raise ValueError(f"float pixels in {lo:g}..{hi:g} fit neither 0..1 nor 0..255; "
                             f"save the image as 8- or 16-bit")
        scale = 255.0 if hi <= 1 else 1.0
        return Image.fromarray(np.rint(a * scale).astype(np.uint8))
    if mode == "LAB":
        return im.getchannel("L")  # lightness; PIL cannot convert LAB to RGB
    return im.convert("L")


def open_upright(data: bytes) -> Image.Image:
    """The image in file bytes, loaded and turned as a viewer shows it: a camera may store the pixels turned and say
    so in EXIF, and the boxes of defect_area.csv are taken to be drawn on what a viewer shows. Always from bytes:
    Pillow turns a TIFF upright while loading it from bytes but not from a file name."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return ImageOps.exif_transpose(im)  # a copy, also when there is nothing to turn


def prepare(gray: Image.Image, cfg: DataConfig) -> np.ndarray:
    """An 8-bit gray image -> (H, W) uint8 at cfg.image_size: the border cut, the centre cropped or not, resized."""
    top, left, ch, cw = region(gray.height, gray.width, cfg)
    oh, ow = cfg.image_size
    out = gray.crop((left, top, left + cw, top + ch))
    if (ch, cw) != (oh, ow):
        out = out.resize((ow, oh), Image.BILINEAR)  # PIL widens the filter when shrinking: antialiased
    return np.asarray(out, dtype=np.uint8)


def decode(data: bytes, cfg: DataConfig) -> tuple[np.ndarray, tuple[int, int]]:
    """Image file bytes -> (H, W) uint8 gray at cfg.image_size, and the original (h, w)."""
    gray = to_gray8(open_upright(data))
    return prepare(gray, cfg), (gray.height, gray.width)


def cache_key(paths: list[Path], root: Path, cfg: DataConfig) -> str:
    files = []
    for p in paths:
        st = p.stat()
        files.append([str(p.relative_to(root)), st.st_size, st.st_mtime_ns])
    what = [VERSION, files, list(cfg.image_size), cfg.resize, cfg.crop_border]
    return hashlib.sha1(json.dumps(what).encode()).hexdigest()[:20]


def load_cached(paths: list[Path], root: Path, cfg: DataConfig) -> Decoded:
    """Decode `paths` (files under `root`), or reuse the cache of an earlier identical call."""
    cache = cfg.cache_root(root)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the image cache {cache} ({e.strerror}); pass a writable folder to "
                        f"--cache-dir")
    key = cache_key(paths, root, cfg)
    npy, meta = cache / f"{key}.npy", cache / f"{key}.json"
    if not (npy.is_file() and meta.is_file()):
        _build(paths, root, cfg, npy, meta)
    m = json.loads(meta.read_text())
    dec = Decoded(np.load(npy, mmap_mode="r"), np.array(m["ok"], dtype=bool),
                  np.array(m["sizes"], dtype=np.int64).reshape(-1, 2), m["digests"], m["failed"])
    _report(dec, root, cfg)
    return dec


def _build(paths: list[Path], root: Path, cfg: DataConfig, npy: Path, meta: Path) -> None:
    for old in npy.parent.glob(f"{npy.stem}.*.tmp*"):
        if time.time() - old.stat().st_mtime > STALE_S:
            old.unlink(missing_ok=True)
    tmp_npy = npy.with_name(f"{npy.name}.tmp{os.getpid()}")
    tmp_meta = meta.with_name(f"{meta.name}.tmp{os.getpid()}")
    h, w = cfg.image_size
    n = len(paths)
    ok, sizes, digests, failed = [False] * n, [[0, 0]] * n, [""] * n, []
    try:
        arr = np.lib.format.open_memmap(tmp_npy, mode="w+", dtype=np.uint8, shape=(n, 1, h, w))
        # The disk space is claimed now: a disk that fills under a memory map kills the process (SIGBUS). macOS
        # has no posix_fallocate; there a full disk is met while the cache is filled.
        if hasattr(os, "posix_fallocate"):
            with open(tmp_npy, "r+b") as f:
                os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        for i, p in enumerate(tqdm(paths, desc=f"caching {n} images", disable=n < 500, leave=False)):
            try:
                data = p.read_bytes()
                arr[i, 0], size = decode(data, cfg)
            except UNREADABLE as e:
                first = (str(e).splitlines() or [""])[0]
                why = "not an image PIL can read" if isinstance(e, UnidentifiedImageError) else first
                failed.append([str(p.relative_to(root)), why or type(e).__name__])
                continue
            ok[i], sizes[i], digests[i] = True, list(size), hashlib.sha1(data).hexdigest()
        arr.flush()
        del arr
        tmp_meta.write_text(json.dumps({"ok": ok, "sizes": sizes, "digests": digests, "failed": failed}))
        os.replace(tmp_npy, npy)
        os.replace(tmp_meta, meta)
    except OSError as e:  # the images' own read errors are caught above
        raise WriteFailed(npy, e).or_else("pass another folder to --cache-dir") from None
    finally:
        tmp_npy.unlink(missing_ok=True)
        tmp_meta.unlink(missing_ok=True)


def crop_hint(failed: list) -> str | None:
    """The fix when the files are sound but --data.crop-border leaves nothing of them (region says so)."""
    if failed and all("crop_border" in why for _, why in failed):
        return "pass a smaller --data.crop-border"
    return None


def _report(dec: Decoded, root: Path, cfg: DataConfig) -> None:
    if dec.failed:
        some = "; ".join(f"{p} ({why})" for p, why in dec.failed[:3])
        log.warning(f"skipped {len(dec.failed)} unreadable image(s) of {len(dec.ok)} under {root}, e.g. {some}; "
                    f"{crop_hint(dec.failed) or 'delete or replace them'}")
    counts = Counter(map(tuple, dec.sizes[dec.ok].tolist()))
    if len(counts) > 1:
        (h, w), n = counts.most_common(1)[0]
        log.warning(f"note: images under {root} come in {len(counts)} sizes (most common {h}x{w}: {n} of "
                    f"{int(dec.ok.sum())}); all are brought to {cfg.image_size[0]}x{cfg.image_size[1]} by {cfg.resize}")
