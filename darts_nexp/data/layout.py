"""Finding the images on disk: the three folder layouts, image listing, and the two CSV side files."""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import UserError

log = logging.getLogger("darts_nexp.data")

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
# name -> (good folder, defect folder, test folder); the test folder is optional.
LAYOUTS = {
    "stage1": ("train/good_0", "train/bad_1", "test/all_tests"),
    "stage2": ("train/train_contest/good_all", "train/train_contest/defect", "test/test_contest/test"),
    "plain": ("good", "defect", "test"),
}
BOX_HEADER = ["id", "x_1", "y_1", "x_2", "y_2"]
LABEL_HEADER = ["id", "label"]


@dataclass
class Layout:
    name: str
    root: Path
    good: Path
    defect: Path
    test: Optional[Path]  # None when the dataset has no test folder

    @property
    def boxes_csv(self) -> Optional[Path]:
        for p in (self.root / "defect_area.csv", self.root / "train" / "defect_area.csv"):
            if p.is_file():
                return p
        return None


def _expected() -> str:
    return "; ".join(f"{name}: {good}/ + {defect}/ [+ {test}/]" for name, (good, defect, test) in LAYOUTS.items())


def match_layout(root: Path) -> Optional[Layout]:
    for name, (good, defect, test) in LAYOUTS.items():
        if (root / good).is_dir() and (root / defect).is_dir():
            return Layout(name, root, root / good, root / defect, root / test if (root / test).is_dir() else None)
    return None


def find_layout(root: Path | str) -> Layout:
    """Recognise which of the three layouts `root` holds, or say what was expected."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"data folder {root} not found; pass the folder that holds the dataset to --data-dir")
    layout = match_layout(root)
    if layout is not None:
        return layout
    for name, (good, defect, test) in LAYOUTS.items():
        has_good, has_defect = (root / good).is_dir(), (root / defect).is_dir()
        if has_good or has_defect:
            missing = defect if has_good else good
            raise UserError(f"{root} looks like the {name} layout but {root / missing} is missing; "
                            f"create it with that class's images")
    raise UserError(f"{root} holds none of the known layouts ({_expected()}); arrange the images so, "
                    f"or point --data-dir at the folder that holds them")


def list_images(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, sorted; hidden folders (such as .cache) are skipped."""
    images, others = [], []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).parts
        if any(part.startswith(".") for part in rel) or not p.is_file():
            continue
        (images if p.suffix.lower() in IMAGE_EXTS else others).append(p)
    if others:
        log.warning(f"skipped {len(others)} file(s) with unknown extensions in {folder} "
                    f"(e.g. {', '.join(p.name for p in others[:3])}); readable formats are {', '.join(IMAGE_EXTS)}")
    return images


def list_class(folder: Path) -> list[Path]:
    images = list_images(folder)
    if not images:
        raise UserError(f"{folder} holds no images ({', '.join(IMAGE_EXTS)}); put that class's images there")
    return images


def _rows(path: Path, header: list[str]) -> list[list[str]]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found; pass an existing CSV file with the header {','.join(header)}")
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows or [c.strip().lower() for c in rows[0][: len(header)]] != header:
        raise UserError(f"{path} must start with the header line {','.join(header)} "
                        f"(found {','.join(rows[0]) if rows else 'an empty file'})")
    for n, r in enumerate(rows[1:], start=2):
        if len(r) < len(header):
            raise UserError(f"{path} line {n} has {len(r)} column(s), expected {len(header)} ({','.join(header)})")
    return rows[1:]


def read_boxes(path: Path) -> dict[str, list[float]]:
    """defect_area.csv: id -> [x1, y1, x2, y2] in original-image pixels."""
    out = {}
    for n, r in enumerate(_rows(path, BOX_HEADER), start=2):
        try:
            out[r[0].strip()] = [float(v) for v in r[1:5]]
        except ValueError:
            raise UserError(f"{path} line {n}: box corners must be numbers (got {','.join(r[1:5])})")
    return out


def read_labels(path: Path) -> dict[str, int]:
    """A labels CSV: id -> 0 (good) or 1 (defect)."""
    out = {}
    for n, r in enumerate(_rows(path, LABEL_HEADER), start=2):
        value = r[1].strip().lower()
        if value in ("0", "1", "0.0", "1.0"):
            out[r[0].strip()] = int(float(value))
        elif value in ("good", "defect"):
            out[r[0].strip()] = int(value == "defect")
        else:
            raise UserError(f"{path} line {n}: label must be 0 (good) or 1 (defect), got {r[1]!r}")
    return out


def check_ids(known: list[str], table: dict, what: str, path: Path) -> None:
    """Warn, with counts, about rows of a side file that name no image."""
    unknown = sorted(set(table) - set(known))
    if unknown:
        log.warning(f"{len(unknown)} of {len(table)} {what} in {path} name no image in the data "
                    f"(e.g. {', '.join(unknown[:3])}); they are ignored")
