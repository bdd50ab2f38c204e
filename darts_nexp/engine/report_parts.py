"""What `darts-nexp report` reads from a run folder, and the parts of the page that any run may have.

A report is asked of runs that are unfinished, damaged or old as much as of good ones, so nothing here refuses a
run: a file that is missing or damaged is a `Missing` with the reason, which `part` shows on the page in place of
what it would have drawn.
"""
from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import page
from ..errors import UserError
from ..io import read_user_text
from ..render import render_genotype
from ..runs import PREDICTIONS, history_file, run_history, run_info
from ..space import Genotype

# What a damaged file raises once read: a wrong type, a missing key, a number that is text, weights of the wrong
# shape (torch's RuntimeError).
DAMAGE = (UserError, OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError)


class Missing(Exception):
    """A part of the page that cannot be drawn, and why; shown on the page in its place."""


def part(title: str, build, *args) -> str:
    """A heading and the HTML that build(*args) returns (a list of strings), or a line saying why there is none."""
    try:
        body = build(*args)
    except (Missing, UserError) as e:
        body = [page.missing(str(e))]
    except DAMAGE as e:
        first = (str(e).splitlines() or [""])[0][:200]
        body = [page.missing(f"could not be drawn ({type(e).__name__}: {first}); a file it reads may be damaged")]
    return page.heading(3, title) + "\n" + "\n".join(body)


def info_of(folder: Path) -> dict:
    """What run.json says of the run; {} when it is missing or damaged (the page says which where it names the
    kind of run)."""
    try:
        return run_info(folder)
    except UserError:
        return {}


def read_json(path: Path, what: str) -> dict:
    """A JSON object, or Missing naming `what` it would have shown."""
    if not path.is_file():
        raise Missing(f"no {path.name}, so no {what}")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise Missing(f"{path} is damaged ({type(e).__name__}), so no {what}") from None
    if not isinstance(value, dict):
        raise Missing(f"{path} is damaged (not a JSON object), so no {what}")
    return value


def read_csv(path: Path, what: str) -> list[dict]:
    """The rows of a CSV file with a header, as mappings of text."""
    if not path.is_file():
        raise Missing(f"no {path.name}, so no {what}")
    try:  # a damaged file costs its part of the page, not the page
        return list(csv.DictReader(read_user_text(path, "CSV file", "restore it").splitlines()))
    except (UserError, csv.Error) as e:
        raise Missing(f"{e}, so no {what}") from None


def epochs_of(folder: Path, kind: str, what: str) -> list[dict]:
    """The epochs of a run's history (runs.run_history), or Missing naming `what` they would have shown."""
    name = history_file(kind)
    if not (folder / name).is_file():
        raise Missing(f"no {name}, so no {what}")
    try:
        return run_history(folder, kind)
    except UserError as e:
        raise Missing(f"{e}; so no {what}") from None


@dataclass
class Scores:
    """The labelled test scores of a run (predictions.csv); `probabilities` the calibrated P(defect) of each
    image, where the run wrote them."""
    ids: list[str]
    labels: np.ndarray
    scores: np.ndarray
    probabilities: np.ndarray | None


def read_scores(folder: Path) -> Scores:
    path = folder / PREDICTIONS
    rows = read_csv(path, "test scores")
    if not rows or not {"id", "label", "defect_score"} <= set(rows[0]):
        raise Missing(f"{path} is damaged (no rows, or no id, label and defect_score columns), so no test scores")
    try:
        labels = np.array([int(r["label"]) for r in rows])
        scores = np.array([float(r["defect_score"]) for r in rows])
        probabilities = (np.array([float(r["defect_probability"]) for r in rows])
                         if "defect_probability" in rows[0] else None)
    except (TypeError, ValueError) as e:
        raise Missing(f"{path} is damaged ({e}), so no test scores") from None
    if not set(labels.tolist()) <= {0, 1} or not np.isfinite(scores).all():
        raise Missing(f"{path} is damaged (a label other than 0 and 1, or a score that is not a number)")
    return Scores([r["id"] for r in rows], labels, scores, probabilities)


def cells(genotype: Genotype) -> list[str]:
    """The normal and reduction cells drawn by graphviz, or the genotype as text when `dot` is not installed."""
    with tempfile.TemporaryDirectory() as tmp:
        paths, has_dot = render_genotype(genotype, tmp)
        drawings = [page.image(p.read_bytes(), f"{p.stem} cell", "svg") for p in paths if p.suffix == ".svg"]
    name = f"{genotype.name}: " if genotype.name else ""
    text = [page.para(f"{name}{genotype.normal_skips} skip connection(s) in the normal cell; every edge is an "
                      f"operation from an input (c_{{k-2}}, c_{{k-1}}) or an earlier node to a node; c_{{k}} "
                      f"concatenates the nodes.", "help")]
    if has_dot:
        return text + [page.side_by_side(drawings)]
    return text + [page.missing("graphviz's 'dot' is not installed, so the cells are given as text (install it: "
                                "apt-get install graphviz)"),
                   page.pre("\n".join(f"{cell}: " + ", ".join(f"{op}<-{src}" for op, src in getattr(genotype, cell))
                                      for cell in ("normal", "reduce")))]


def genotype_cells(path: Path) -> list[str]:
    if not path.is_file():
        raise Missing(f"no {path.name}, so no cells to draw")
    return cells(Genotype.load(path))


def markdown_file(path: Path) -> list[str]:
    if not path.is_file():
        raise Missing(f"no {path.name}: the protocol has not finished")
    return [page.from_markdown(read_user_text(path, "Markdown file", "restore it"))]


def csv_table(path: Path, what: str) -> list[str]:
    """A CSV file as a table, numbers shown as numbers."""
    rows = read_csv(path, what)
    if not rows:
        raise Missing(f"{path} has no rows, so no {what}")

    def value(text: str):
        for kind in (int, float):
            try:
                return kind(text)
            except (TypeError, ValueError):  # text, or the list of a row's extra fields
                pass
        return text

    return [page.table(list(rows[0]), [[value(v or "") for v in r.values()] for r in rows])]
