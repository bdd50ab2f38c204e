"""A Nexperia-like dataset written in the real stage-2 layout, so that one reader serves both.

    darts-nexp data synthetic --out DIR [--n-train N] [--n-test N] [--size H W] [--seed S]

Writes train/train_contest/{good_all,defect}/*.bmp, test/test_contest/test/*.bmp, defect_area.csv (id,x_1,y_1,x_2,y_2,
with a few rows missing as in the real data), test_labels.csv (id,label: the true test labels, which the real set
lacks) and synthetic.json (the parameters; a set whose parameters differ is regenerated). Image i depends only on
(seed, i), so the set is deterministic. Train labels carry `label_noise` flips; `duplicate_rate` of the images are
exact or near copies of earlier ones, in the same split or across train and test (seeds 002 and 004).
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import validate
from ..errors import UserError
from ..io import atomic_path, lock_folder, write_atomic, write_csv
from .config import SyntheticConfig
from .draw import draw_part

VERSION = 4  # bump whenever draw.py changes, so that existing sets are regenerated
GOOD_DIR, DEFECT_DIR, TEST_DIR = "train/train_contest/good_all", "train/train_contest/defect", "test/test_contest/test"
BOX_MISSING_RATE = 0.05
BORDER_SCRATCH_RATE = 0.25
MARKER = "synthetic.json"


def _plan(cfg: SyntheticConfig) -> dict:
    """Draw every per-set decision from one generator: labels, noise flips, duplicates, names."""
    n = cfg.n_train + cfg.n_test
    rng = np.random.default_rng([cfg.seed, 1_000_000])
    defective = rng.random(n) < cfg.defect_fraction
    filed = defective.copy()
    flip = rng.random(cfg.n_train) < cfg.label_noise  # the test labels stay true: they are the yardstick
    filed[: cfg.n_train] ^= flip
    source = np.arange(n)  # image i is drawn as image source[i]
    n_dup = int(round(cfg.duplicate_rate * n))
    if n_dup:
        slots = rng.choice(np.arange(1, n), size=n_dup, replace=False)
        for i in np.sort(slots):
            source[i] = source[rng.integers(i)]
            defective[i], filed[i] = defective[source[i]], filed[source[i]]
    near = rng.random(n) < 0.5
    lots = rng.integers(100, 999, size=n)
    ids = [f"SYN{cfg.seed % 100:02d}{lots[i]}A_{i % 97:02d}-APG_ITIS_H{i % 53:02d}_{1 + (i >= cfg.n_train)}_{i}"
           for i in range(n)]
    return dict(defective=defective, filed=filed, source=source, near=near, ids=ids,
                box_missing=rng.random(n) < BOX_MISSING_RATE, border=rng.random(n) < BORDER_SCRATCH_RATE)


def _image(cfg: SyntheticConfig, plan: dict, i: int):
    j = int(plan["source"][i])
    h, w = cfg.size
    img, box = draw_part(np.random.default_rng([cfg.seed, j]), h, w, bool(plan["defective"][j]),
                         bool(plan["border"][j]))
    if j != i and plan["near"][i]:  # a near duplicate: the same shot with fresh sensor noise
        noise = np.random.default_rng([cfg.seed, i]).normal(0, 2, size=img.shape)
        img = np.clip(img + noise, 0, 255).round().astype(np.uint8)
    return img, box


def generate(cfg: SyntheticConfig, out: Path | str, progress: bool = True) -> Path:
    """Write the synthetic set to `out`, replacing an earlier synthetic set there."""
    validate(cfg)
    out = Path(out)
    _clear(out)
    for sub in (GOOD_DIR, DEFECT_DIR, TEST_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)
    params = {"version": VERSION, **dataclasses.asdict(cfg)}
    write_atomic(out / MARKER, json.dumps({**params, "complete": False}))
    plan = _plan(cfg)
    boxes, t0 = [], time.time()
    for i, name in enumerate(plan["ids"]):
        img, box = _image(cfg, plan, i)
        if i >= cfg.n_train:
            folder = TEST_DIR
        else:
            folder = DEFECT_DIR if plan["filed"][i] else GOOD_DIR
        with atomic_path(out / folder / f"{name}.bmp") as tmp:
            Image.fromarray(img).save(tmp, format="BMP")
        # A box exists where a labeller marked a defect: only in the defect folders, and not always.
        if box is not None and folder == DEFECT_DIR and not plan["box_missing"][i]:
            boxes.append([name] + [int(round(v)) for v in box])
        if progress and i and i % 500 == 0:
            print(f"synthetic: {i}/{len(plan['ids'])} images ({time.time() - t0:.0f}s)", flush=True)
    write_csv(out / "defect_area.csv", ["id", "x_1", "y_1", "x_2", "y_2"], boxes)
    test = range(cfg.n_train, len(plan["ids"]))
    write_csv(out / "test_labels.csv", ["id", "label"], [[plan["ids"][i], int(plan["defective"][i])] for i in test])
    write_atomic(out / MARKER, json.dumps({**params, "complete": True}))
    return out


def _clear(out: Path) -> None:
    """Remove an earlier synthetic set; refuse to touch a folder that is not one."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"{out} is a file; pass a folder to --out / --data-dir")
    ours = (out / MARKER).is_file()
    others = [p.name for p in out.iterdir() if not p.name.startswith(".")]
    if others and not ours:
        raise UserError(f"{out} is not empty and holds no synthetic set ({MARKER} missing); "
                        "pass an empty or new folder, or --dataset nexperia to read it as real data")
    for name in ("train", "test"):
        shutil.rmtree(out / name, ignore_errors=True)


def _found(out: Path) -> dict | None:
    try:
        return json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        return None


def ensure(cfg: SyntheticConfig, out: Path | str) -> Path:
    """Generate the set at `out` unless a complete one with the same parameters is already there."""
    out = Path(out)
    wanted = {"version": VERSION, **dataclasses.asdict(cfg), "complete": True}
    if _found(out) == wanted:
        return out  # complete, and never rewritten: reading it needs no lock, so a read-only copy works
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the synthetic data folder {out} ({e.strerror}); pass another "
                        f"--data-dir") from None
    # A lock, so that two commands started at once do not write the same set over each other.
    with lock_folder(out):
        if _found(out) != wanted:
            print(f"synthetic: generating {cfg.n_train}+{cfg.n_test} images of {cfg.size[0]}x{cfg.size[1]} "
                  f"in {out}", flush=True)
            generate(cfg, out)
    return out


if __name__ == "__main__":  # python -m darts_nexp.data.synthetic, as darts-nexp data synthetic
    import sys

    from ..cli.data import main

    main(["synthetic", *sys.argv[1:]])
