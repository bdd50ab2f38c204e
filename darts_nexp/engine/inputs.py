"""The input size and stem of a search or a training run, chosen from the images when the config leaves them open.

Nexperia images are about 267x275. Thin scratches vanish below about 128 px, so by default the images are shrunk to
128 px on their short side (kept as they are when smaller), and the stem follows the size: the ImageNet stem (to
1/8) from 128 px up, the CIFAR stem (full resolution) below. An explicit choice always wins; it is only warned
about when the first cell would see less than 16x16.
"""
from __future__ import annotations

import logging

from ..data.config import auto_image_size
from ..data.imageset import native_size
from ..space import MIN_CELL_INPUT, auto_stem, first_cell_size

log = logging.getLogger("darts_nexp")


def resolve_input(cfg) -> str:
    """Fill in cfg.data.image_size and cfg.stem where they are left open (None, "auto"); returns the line that
    says what was chosen, which the command prints. The resolved values are what config.yaml saves."""
    how = []
    if cfg.data.image_size is None:
        native = native_size(cfg.data)
        cfg.data.image_size = auto_image_size(native)
        how.append(f"from {native[0]}x{native[1]} images")
    if cfg.stem == "auto":
        cfg.stem = auto_stem(cfg.data.image_size)
        how.append(f"{cfg.stem} stem for that size")
    (h, w), (ch, cw) = cfg.data.image_size, first_cell_size(cfg.stem, cfg.data.image_size)
    if min(ch, cw) < MIN_CELL_INPUT:
        size = 8 * MIN_CELL_INPUT if cfg.stem == "imagenet" else MIN_CELL_INPUT
        log.warning(f"warning: with the {cfg.stem} stem, {h}x{w} images reach the first cell as {ch}x{cw}; thin "
                    f"defects vanish below {MIN_CELL_INPUT}x{MIN_CELL_INPUT}: use --data.image-size {size} {size} or "
                    f"more" + (", or --stem cifar" if cfg.stem == "imagenet" else ""))
    auto = f" (auto: {', '.join(how)})" if how else ""
    return f"input {h}x{w}, {cfg.stem} stem: the first cell sees {ch}x{cw}{auto}"
