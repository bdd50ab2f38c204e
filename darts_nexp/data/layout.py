"""Finding the images on disk: the three folder layouts, image listing, and the two CSV side files."""
from __future__ import annotations

import csv
import io
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import UserError
from ..io import read_user_text

log = logging.getLogger("darts_nexp.data")

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
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
        what = "is a file, not a folder" if root.exists() else "not found"
        raise UserError(f"data folder {root} {what}; pass the folder that holds the dataset to --data-dir")
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


def list_images(folder: Path, warn: bool = True) -> list[Path]:
    """Image files under `folder`, recursively, sorted; hidden files and folders (such as .cache) are skipped, and
    links to folders are not followed. Subfolders that cannot be read and links to nothing are warned about (with
    `warn`), rather than left out in silence."""
    found, unreadable = [], []
    for top, dirs, files in os.walk(folder, onerror=unreadable.append):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(top) / f for f in files if not f.startswith(".")]
    if unreadable and Path(unreadable[0].filename) == Path(folder):
        raise UserError(f"cannot read the folder {folder} ({unreadable[0].strerror}); make it readable")
    images, others, broken = [], [], []
    for p in sorted(found):
        (broken if not p.is_file() else images if p.suffix.lower() in IMAGE_EXTS else others).append(p)
    if not warn:
        return images
    if unreadable:
        log.warning(f"skipped {len(unreadable)} subfolder(s) of {folder} that cannot be read (e.g. "
                    f"{unreadable[0].filename}: {unreadable[0].strerror}); their images are left out")
    if broken:
        log.warning(f"skipped {len(broken)} link(s) to nothing or special file(s) in {folder} "
                    f"(e.g. {broken[0].name})")
    if others:
        log.warning(f"skipped {len(others)} file(s) with unknown extensions in {folder} "
                    f"(e.g. {', '.join(p.name for p in others[:3])}); readable formats are {', '.join(IMAGE_EXTS)}")
    return images


def list_class(folder: Path, warn: bool = True) -> list[Path]:
    images = list_images(folder, warn)
    if not images:
        raise UserError(f"{folder} holds no images ({', '.join(IMAGE_EXTS)}); put that class's images there")
    return images


def path_ids(files: list[Path], root: Path) -> list[str]:
    """Each file's path under `root`, without extension, with forward slashes (`good/000`): the name of an image
    that stays unique where file names repeat. Two files that differ only in their extension are refused."""
    seen: dict[str, Path] = {}
    for f in files:
        other = seen.setdefault(f.relative_to(root).with_suffix("").as_posix(), f)
        if other != f:
            raise UserError(f"{other} and {f} differ only in their extension, which the id of an image leaves out "
                            f"(the CSV files and the predictions name images by id); rename one of them")
    return list(seen)


def _stem(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _repeated_name(paths: list[str]) -> Optional[str]:
    """The first two of `paths` that share a file name ("good/000 and scratch/000"), or None."""
    first: dict[str, str] = {}
    for p in paths:
        other = first.setdefault(_stem(p), p)
        if other != p:
            return f"{other} and {p}"
    return None


def image_ids(sets: dict[str, list[str]], root: Path) -> list[str]:
    """The id of each image of each set in turn (`sets`: what each set is -> its images' path_ids under `root`).

    An id is the file name without extension, the name the contest's CSV files use, when the file names of the set
    are unique (the Nexperia layouts). Real collections number each folder's files alike (MVTec AD's
    test/good/000.png and test/scratch/000.png), so in a set where a name repeats every id is the image's path
    under `root` without extension instead; one line says so. Each set is named on its own: a test image may share a
    training image's name.
    """
    ids, by_path, examples = [], [], []
    for what, paths in sets.items():
        repeated = _repeated_name(paths)
        ids += paths if repeated else [_stem(p) for p in paths]
        if repeated:
            by_path.append(what)
            examples.append(repeated)
    if by_path:
        log.warning(f"note: file names repeat among the {' and the '.join(by_path)} of {root} (e.g. {examples[0]}), "
                    f"so their ids are their paths under it without extension, in splits.json, the predictions and "
                    f"the CSV files")
    return ids


class Table(dict):
    """A side file read into {id: value}, with the line each id came from (for messages)."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.lines: dict[str, int] = {}

    def add(self, key: str, value, line: int, what: str) -> None:
        if key in self:
            raise UserError(f"{self.path} line {line}: id {key!r} appears again (first on line {self.lines[key]}); "
                            f"keep one row per image ({what})")
        self[key] = value
        self.lines[key] = line


def _text(path: Path, header: list[str]) -> str:
    """The file's text, or a UserError saying why it is not a readable UTF-8 CSV file."""
    hint = f"pass a CSV file with the header {','.join(header)}, saved as UTF-8 (a spreadsheet's \"CSV UTF-8\")"
    text = read_user_text(path, "CSV file", hint)
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise UserError(f"{path} is not a text file (a NUL byte on line {line}); {hint}")
    return text


def _rows(path: Path, header: list[str]) -> list[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank row after the header line, which must match `header`."""
    path = Path(path)
    reader = csv.reader(io.StringIO(_text(path, header), newline=""))
    rows, line = [], 1
    try:
        for r in reader:
            if r and any(c.strip() for c in r):
                rows.append((line, r))
            line = reader.line_num + 1
    except csv.Error as e:
        raise UserError(f"{path} line {reader.line_num} is not valid CSV ({e}); {','.join(header)} rows expected")
    if not rows or [c.strip().lower() for c in rows[0][1][: len(header)]] != header:
        found = repr(",".join(rows[0][1])[:80]) if rows else "an empty file"
        raise UserError(f"{path} must start with the header line {','.join(header)} (found {found})")
    for n, r in rows[1:]:
        if len(r) < len(header):
            raise UserError(f"{path} line {n} has {len(r)} column(s), expected {len(header)} ({','.join(header)})")
        if not r[0].strip():
            raise UserError(f"{path} line {n} has an empty id; write the image's file name without extension "
                            f"there, or its path under the data folder")
    return rows[1:]


def read_boxes(path: Path) -> Table:
    """defect_area.csv: id -> [x1, y1, x2, y2] in original-image pixels (`.lines`: id -> line number).

    Corners must be finite, >= 0, with x_1 <= x_2 and y_1 <= y_2; whether a box fits its image is checked when
    the image size is known (imageset._scale_boxes).
    """
    out = Table(path)
    for n, r in _rows(path, BOX_HEADER):
        key, got = r[0].strip(), ",".join(c.strip() for c in r[1:5])
        where = f"{path} line {n} (id {key})"
        try:
            x1, y1, x2, y2 = [float(v) for v in r[1:5]]
        except ValueError:
            raise UserError(f"{where}: box corners must be numbers (got {got}); "
                            f"write x_1,y_1,x_2,y_2 as pixel coordinates")
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
            raise UserError(f"{where}: box corners must be finite numbers (got {got}); "
                            f"write x_1,y_1,x_2,y_2 as pixel coordinates, or drop the row")
        if min(x1, y1, x2, y2) < 0:
            raise UserError(f"{where}: box corners must be >= 0 (got {got}); "
                            f"they are pixel coordinates in the original image")
        if x2 < x1 or y2 < y1:
            which = "x_2 < x_1" if x2 < x1 else "y_2 < y_1"
            raise UserError(f"{where}: {which} (got {got}); write the top-left corner as x_1,y_1 "
                            f"and the bottom-right corner as x_2,y_2")
        out.add(key, [x1, y1, x2, y2], n, "one box around its defects")
    return out


def read_labels(path: Path) -> Table:
    """A labels CSV: id -> 0 (good) or 1 (defect) (`.lines`: id -> line number)."""
    out = Table(path)
    for n, r in _rows(path, LABEL_HEADER):
        value = r[1].strip().lower()
        if value in ("0", "1", "0.0", "1.0"):
            label = int(float(value))
        elif value in ("good", "defect"):
            label = int(value == "defect")
        else:
            raise UserError(f"{path} line {n} (id {r[0].strip()}): label must be 0 (good) or 1 (defect), "
                            f"got {r[1]!r}")
        out.add(r[0].strip(), label, n, "one label")
    return out


def match_rows(table: Table, sets: list[list[str]], what: str) -> list[Optional[str]]:
    """The key of the row of `table` that names each image of each set in turn, or None (`sets`: each image's
    path_id). A row names an image by its id in either form: the file name without extension, or the path.

    Names are matched within each set, as ids are made (a test image may share a training image's name). A name
    that fits several images of a set, and two rows that name one image, are refused; rows that name no image are
    warned about, with counts.
    """
    keys, used = [], set()
    for paths in sets:
        images: dict[str, list[int]] = {}
        for i, p in enumerate(paths):
            for name in {p, _stem(p)}:
                images.setdefault(name, []).append(i)
        found: list[Optional[str]] = [None] * len(paths)
        for key in table:
            hits = images.get(key, [])
            if len(hits) > 1:
                raise UserError(f"{table.path} line {table.lines[key]}: {key!r} names {len(hits)} images "
                                f"({', '.join(paths[i] for i in hits)}); write the path of the one meant, as listed")
            if hits:
                i = hits[0]
                if found[i] is not None:
                    raise UserError(f"{table.path} lines {table.lines[found[i]]} and {table.lines[key]} both name the "
                                    f"image {paths[i]} (as {found[i]!r} and {key!r}); keep one row per image ({what})")
                found[i] = key
                used.add(key)
        keys += found
    unknown = [k for k in table if k not in used]
    if unknown:
        log.warning(f"{len(unknown)} of {len(table)} {what} in {table.path} name no image in the data "
                    f"(e.g. {', '.join(sorted(unknown)[:3])}); they are ignored")
    return keys
