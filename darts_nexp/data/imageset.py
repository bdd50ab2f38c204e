"""Decoded images with their labels, ids and defect boxes: a dataset root, or any folder of images."""
from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..config import validate
from ..errors import UserError
from .cache import UNREADABLE, Decoded, crop_hint, load_cached, open_upright, region
from .config import DataConfig, auto_image_size
from .layout import (IMAGE_EXTS, LAYOUTS, Layout, Table, find_layout, image_ids, list_class, list_images, match_layout,
                     match_rows, path_ids, read_boxes, read_labels)

log = logging.getLogger("darts_nexp.data")
# Folder names that carry a label when scoring an arbitrary folder.
GOOD_NAMES = {"good", "good_0", "good_all", "ok", "pass"}
DEFECT_NAMES = {"defect", "bad_1", "bad", "ng", "fail"}


@dataclass
class ImageSet:
    name: str
    images: np.ndarray  # (N, C, H, W) uint8, possibly a read-only memmap or broadcast view
    labels: np.ndarray  # (N,) int64: 1 defect, 0 good, -1 unknown
    ids: list[str]  # file names without extension, or paths where names repeat (layout.image_ids)
    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2 in resized-image pixels, NaN where none
    digests: Optional[list[str]] = None  # sha1 of each file, for exact duplicates
    paths: Optional[list[str]] = None  # under the data root, without extension: CSV files may name images so too

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx, name: str) -> "ImageSet":
        idx = np.sort(np.asarray(idx, dtype=np.int64))  # sorted: sequential reads from the memmap
        digests = [self.digests[i] for i in idx] if self.digests is not None else None
        paths = [self.paths[i] for i in idx] if self.paths is not None else None
        return ImageSet(name, self.images[idx], self.labels[idx], [self.ids[i] for i in idx], self.boxes[idx], digests,
                        paths)


@dataclass
class Dataset:
    """What a dataset root holds: the labelled training images and the test folder, if any."""
    layout: Layout
    train: ImageSet
    test: Optional[ImageSet]  # labels -1 unless a labels CSV was given
    labels_csv: Optional[Path]  # where the test labels came from
    failed: list[list[str]]  # unreadable files [path, reason]
    sizes: Counter  # "HxW" of the original images -> count


def _scale_boxes(table: Optional[Table], keys: list[Optional[str]], sizes: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """Boxes of `table` (original-image pixels; `keys`: the row of each image, or None) in the pixels of the resized
    images; NaN where there is none.

    A box must lie within its image (x in 0..W, y in 0..H of the original): one that does not means the CSV
    belongs to other images (or has x and y swapped), and is refused naming the CSV, the line and the id.
    """
    boxes = np.full((len(keys), 4), np.nan, dtype=np.float32)
    oh, ow = cfg.image_size
    for i, (key, (h, w)) in enumerate(zip(keys, sizes)):
        if key is None or h == 0:
            continue
        x1, y1, x2, y2 = table[key]
        if x2 > w or y2 > h or min(x1, y1) < 0:
            raise UserError(f"{table.path} line {table.lines[key]} (id {key}): box {x1:g},{y1:g},{x2:g},{y2:g} reaches "
                            f"outside its {h}x{w} (HxW) image; corners are pixel coordinates of the original "
                            f"image (x in 0..{w}, y in 0..{h}): fix the row, or drop it")
        top, left, ch, cw = region(int(h), int(w), cfg)
        sx, sy = ow / cw, oh / ch
        boxes[i] = np.clip([(x1 - left) * sx, (y1 - top) * sy, (x2 - left) * sx, (y2 - top) * sy],
                           0, [ow, oh, ow, oh])
    return boxes


def _check_readable(folder: Path, rows: np.ndarray, paths: list[Path], dec: Decoded, root: Path, what: str) -> None:
    """Refuse a folder (a class, the test folder, or a folder to score) in which no image could be decoded."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0 or dec.ok[rows].any():
        return
    inside = {str(paths[r].relative_to(root)) for r in rows}
    failed = [(p, why) for p, why in dec.failed if p in inside]
    some = "; ".join(f"{p}: {why}" for p, why in failed[:3])
    fix = crop_hint(failed) or f"replace them with readable images ({', '.join(IMAGE_EXTS)}: 8- or 16-bit gray or RGB)"
    raise UserError(f"none of the {len(rows)} image file(s) in {folder} could be read ({what}), e.g. {some}; {fix}")


def _imageset(name: str, dec: Decoded, rows: np.ndarray, labels, ids, paths, boxes, cfg: DataConfig) -> ImageSet:
    """Keep the readable ones among `rows` of the decoded array."""
    rows = np.asarray(rows, dtype=np.int64)
    keep = dec.ok[rows]
    kept = rows[keep]
    if len(kept) and (np.diff(kept) == 1).all():
        images = dec.images[kept[0]: kept[-1] + 1]  # a slice stays a memmap: nothing is read yet
    else:
        images = dec.images[kept]
    if cfg.channels == 3:
        images = np.broadcast_to(images, (len(images), 3) + images.shape[2:])  # (N, 3, H, W), no copy
    return ImageSet(name, images, np.asarray(labels, dtype=np.int64)[keep], [n for n, k in zip(ids, keep) if k],
                    boxes[keep], [dec.digests[r] for r in rows[keep]], [p for p, k in zip(paths, keep) if k])


def data_root(cfg: DataConfig) -> Path:
    """The dataset root, generating the synthetic set there first when needed."""
    root = cfg.root()
    if cfg.dataset == "synthetic":
        from .synthetic import ensure  # here, so that `python -m darts_nexp.data.synthetic` imports it only once

        ensure(cfg.synthetic, root)
    return root


def native_size(cfg: DataConfig) -> tuple[int, int]:
    """The most common (H, W), upright, among the first training images of the data set."""
    if cfg.dataset == "synthetic":
        return tuple(cfg.synthetic.size)
    layout = find_layout(data_root(cfg))
    sizes = Counter()
    # Quiet: load_dataset lists these folders again right after, and warns then.
    for path in list_class(layout.good, warn=False)[:20] + list_class(layout.defect, warn=False)[:20]:
        try:
            upright = open_upright(path.read_bytes())
            sizes[(upright.height, upright.width)] += 1
        except UNREADABLE:
            continue
    if not sizes:
        raise UserError(f"none of the first training images under {layout.root} can be read to size the input; "
                        f"replace them, or pass --data.image-size H W")
    return sizes.most_common(1)[0][0]


def load_dataset(cfg: DataConfig) -> Dataset:
    validate(cfg)
    if cfg.image_size is None:
        cfg = dataclasses.replace(cfg, image_size=auto_image_size(native_size(cfg)))
    root = data_root(cfg)
    layout = find_layout(root)
    good, defect = list_class(layout.good), list_class(layout.defect)
    test = list_images(layout.test) if layout.test else []
    files = good + defect + test
    n_train = len(good) + len(defect)
    paths = path_ids(files, layout.root)
    sets = {"training images": paths[:n_train], "test images": paths[n_train:]}
    ids = image_ids(sets, layout.root)
    dec = load_cached(files, root, cfg)
    labels = [0] * len(good) + [1] * len(defect)

    table, keys = None, [None] * len(files)
    if layout.boxes_csv:
        table = read_boxes(layout.boxes_csv)
        keys = match_rows(table, list(sets.values()), "boxes")
    _check_readable(layout.good, np.arange(len(good)), files, dec, root, "the good training images")
    _check_readable(layout.defect, np.arange(len(good), n_train), files, dec, root, "the defect training images")
    if test:
        _check_readable(layout.test, np.arange(n_train, len(files)), files, dec, root, "the test images")
    boxes = _scale_boxes(table, keys, dec.sizes, cfg)
    train = _imageset("train", dec, np.arange(n_train), labels, ids[:n_train], paths[:n_train], boxes[:n_train], cfg)

    labels_csv = Path(cfg.labels_csv) if cfg.labels_csv else None
    if labels_csv is None and cfg.dataset == "synthetic":
        labels_csv = root / "test_labels.csv"
    test_set = None
    if test:
        test_labels = [-1] * len(test)
        if labels_csv is not None:
            known = read_labels(labels_csv)
            test_labels = [-1 if k is None else known[k] for k in match_rows(known, [paths[n_train:]], "labels")]
            missing = test_labels.count(-1)
            if missing:
                log.warning(f"{missing} of {len(test)} test images have no row in {labels_csv}; "
                            "they are left out of the labelled test")
        test_set = _imageset("test", dec, np.arange(n_train, len(files)), test_labels, ids[n_train:],
                             paths[n_train:], boxes[n_train:], cfg)
    elif labels_csv is not None and cfg.labels_csv:
        raise UserError(f"--data.labels-csv {labels_csv} was given but {root} has no test folder "
                        f"({root / LAYOUTS[layout.name][2]}); drop the option or add the folder")
    sizes = Counter(f"{h}x{w}" for h, w in dec.sizes[dec.ok].tolist())
    return Dataset(layout, train, test_set, labels_csv if test else None, dec.failed, sizes)


def _folder_label(path: Path, folder: Path) -> int:
    for part in reversed(path.relative_to(folder).parts[:-1]):
        if part.lower() in GOOD_NAMES:
            return 0
        if part.lower() in DEFECT_NAMES:
            return 1
    return -1


def load_folder(path, cfg: DataConfig) -> ImageSet:
    """Every image under `path` (a dataset root or any folder); labels from class folder names, else -1."""
    validate(cfg)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "not found"
        raise UserError(f"folder {folder} {what}; pass a folder of images ({', '.join(IMAGE_EXTS)})")
    if match_layout(folder) is not None:
        ds = load_dataset(dataclasses.replace(cfg, dataset="nexperia", data_dir=str(folder)))
        parts = [ds.train] + ([ds.test] if ds.test else [])
        ids, paths = sum((p.ids for p in parts), []), sum((p.paths for p in parts), [])
        if len(set(ids)) < len(ids):
            # A test image has a training image's name; scored together they are one set, whose rows must differ.
            ids = image_ids({"images": paths}, folder)
        return ImageSet(folder.name, np.concatenate([p.images for p in parts]),
                        np.concatenate([p.labels for p in parts]), ids, np.concatenate([p.boxes for p in parts]),
                        sum((p.digests for p in parts), []), paths)
    files = list_images(folder)
    if not files:
        raise UserError(f"{folder} holds no images ({', '.join(IMAGE_EXTS)}); pass a folder that does")
    paths = path_ids(files, folder)
    dec = load_cached(files, folder, cfg)
    _check_readable(folder, np.arange(len(files)), files, dec, folder, "the images to score")
    boxes = np.full((len(files), 4), np.nan, dtype=np.float32)
    return _imageset(folder.name, dec, np.arange(len(files)), [_folder_label(p, folder) for p in files],
                     image_ids({"images": paths}, folder), paths, boxes, cfg)
