"""One self-contained HTML page of one or more run folders, for a person who must decide whether a model goes on the
line (docs/report.md).

A training run shows its model and size, cells, learning curves, test scores (ROC and precision-recall curves,
confusion matrix, TPR at fixed FPR, review band, calibration), a Grad-CAM gallery of its mistakes and its
localisation scores; an evaluate or ensemble run its test scores; a search its supernet's curves, alphas and cells;
a protocol folder its summary, table and Pareto plot. Several runs with test scores get a table side by side and
their ROC curves overlaid. Whatever a run lacks (unfinished, damaged, old) is said in its place.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Optional

import torch
import tyro

from .. import page
from ..errors import UserError
from ..io import WriteFailed, write_atomic
from ..metrics import auc, auc_interval, tpr_at_fpr
from ..plots import rocs_png
from ..runs import (BEST, HISTORY, LAST, METRICS, PREDICTIONS, RUN_JSON, SEARCH_CHECKPOINT, TRAIN_HISTORY, a_run,
                    run_kind)
from ..runtime import start_runtime
from ..version import __version__
from .report_parts import DAMAGE, Missing, csv_table, info_of, markdown_file, part, read_scores
from .report_search import search_parts
from .report_train import latency_ms, model_size, read_metrics, score_parts, train_parts

REPORT = "report.html"
PROTOCOL_FILES = ("summary.md", "rows.csv", "protocol.yaml")


@dataclass
class ReportConfig:
    """Settings of `darts-nexp report` (docs/report.md)."""
    runs: Annotated[tyro.conf.Positional[list[str]], tyro.conf.arg(metavar="RUN_DIR...", help_behavior_hint="")
                    ] = field(default_factory=list)
    """run folders (search, train, evaluate, ensemble) or protocol folders"""
    out: Annotated[Optional[str], tyro.conf.arg(metavar="FILE.html", help_behavior_hint="")] = None
    """the page (default: RUN_DIR/report.html for one folder, report.html here for several); rewritten if it exists"""
    gallery: int = 6
    """images in each row of the Grad-CAM gallery of a training run; 0 leaves the gallery out"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """where the gallery's Grad-CAM runs: auto (CUDA when present), cpu or cuda"""

    def validate(self) -> None:
        if not self.runs:
            raise UserError("no run given; pass one or more run folders: darts-nexp report RUN_DIR... [--out FILE]")
        if self.gallery < 0:
            raise UserError(f"--gallery must be 0 or more (got {self.gallery})")


def folder_kind(folder: Path) -> tuple[str | None, list[str]]:
    """(what the folder holds: a kind of run, "protocol" or None; lines on what is wrong with it)."""
    if any((folder / name).is_file() for name in PROTOCOL_FILES) and not (folder / RUN_JSON).is_file():
        return "protocol", []
    try:
        kind = run_kind(folder)
    except UserError as e:
        # A damaged run.json: the files say what the run was.
        for guess, names in (("search", (HISTORY, SEARCH_CHECKPOINT)), ("train", (TRAIN_HISTORY, LAST, BEST)),
                             ("evaluate", (METRICS, PREDICTIONS))):
            if any((folder / name).is_file() for name in names):
                return guess, [f"{e}; read as {a_run(guess)} by its files"]
        return None, [str(e)]
    if kind is None and (folder / PREDICTIONS).is_file():
        return "evaluate", ["no run.json: read as scored images by its predictions.csv"]
    return kind, []


def status_line(folder: Path, kind: str) -> str:
    info = info_of(folder)
    if not info and (folder / RUN_JSON).is_file():
        return ""  # a damaged run.json, which folder_kind has named
    if info.get("status") == "finished":
        return page.para(f"{a_run(kind).capitalize()}, finished {info.get('finished', '')}.", "meta")
    if info.get("status") == "running":
        return page.missing(f"This {kind} run has not finished (run.json says running): it is still running, or it "
                            f"stopped (crashed, interrupted or diverged). What it has so far is shown.")
    return page.para(f"{a_run(kind).capitalize()} (no run.json, so its status is unknown).", "meta")


def folder_section(folder: Path, name: str, anchor: str, gallery: int, device: torch.device) -> str:
    kind, problems = folder_kind(folder)
    what = "no run" if kind is None else "a protocol" if kind == "protocol" else a_run(kind)
    lines = [page.heading(2, f"{name}: {what}", anchor), page.para(str(folder.resolve()), "meta")]
    lines += [page.missing(p) for p in problems]
    if kind is None:
        found = sorted(p.name for p in folder.iterdir())
        held = f"it holds {', '.join(found[:8])}{' ...' if len(found) > 8 else ''}" if found else "it is empty"
        lines.append(page.missing(f"This folder holds no darts-nexp run: no run.json, checkpoint or results ({held}). "
                                  f"Pass the folder of a search, train, evaluate or ensemble run, or of a protocol."))
    elif kind == "protocol":
        lines += protocol_parts(folder)
    else:
        lines.append(status_line(folder, kind))
        if kind == "train":
            lines += train_parts(folder, gallery, device)
        elif kind == "search":
            lines += search_parts(folder)
        else:
            lines += score_parts(folder)
    return "\n".join(lines)


def protocol_parts(folder: Path) -> list[str]:
    return [part("Summary", markdown_file, folder / "summary.md"),
            part("Test AUC against latency", _pareto, folder / "pareto.png"),
            part("Every trained network", csv_table, folder / "rows.csv", "table of the trained networks"),
            part("Searched candidates", csv_table, folder / "candidates.csv", "table of the candidates")]


def _pareto(path: Path) -> list[str]:
    if not path.is_file():
        raise Missing(f"no {path.name}, so no Pareto plot: the protocol has not finished")
    return [page.image(path.read_bytes(), "test AUC against latency")]


def comparison(folders: list[Path], names: list[str]) -> list[str]:
    """The runs with test scores side by side, their ROC curves overlaid, and whether they saw the same images."""
    scored, left_out = [], []
    for folder, name in zip(folders, names):
        try:
            scored.append((name, folder, read_scores(folder)))
        except Missing as e:
            left_out.append(f"{name} ({e})")
    if len(scored) < 2:
        return [page.missing(f"No comparison: it needs two or more runs with test scores (predictions.csv); "
                             f"{len(scored)} of these {len(folders)} {'has' if len(scored) == 1 else 'have'} them.")]
    lines = [page.missing(f"Left out: {', '.join(left_out)}.")] if left_out else []
    rows = []
    for name, folder, s in scored:
        try:
            size = model_size(folder)
        except (Missing, *DAMAGE):
            size = None  # an evaluate or ensemble run holds no network; the run's own section says what is wrong
        low, high = auc_interval(s.labels, s.scores)
        latency = latency_ms(read_metrics(folder)[0])
        rows.append([name, size["name"] if size else "", len(s.labels), auc(s.labels, s.scores),
                     f"{low:.4f} to {high:.4f}", f"{tpr_at_fpr(s.labels, s.scores, 0.01):.3f}",
                     f"{tpr_at_fpr(s.labels, s.scores, 0.05):.3f}", size["params"] if size else "",
                     f"{size['multiply_adds'] / 1e6:.1f}M" if size else "",
                     f"{latency:.2f}" if latency is not None else ""])
    ids = [set(s.ids) for _, _, s in scored]
    if all(i == ids[0] for i in ids):
        lines.insert(0, page.para(f"All {len(scored)} runs were scored on the same {len(ids[0]):,} test images."))
    else:
        sizes = ", ".join(f"{name}: {len(i):,} images" for (name, _, _), i in zip(scored, ids))
        lines.insert(0, page.missing(f"These runs were scored on different test sets ({sizes}; "
                                     f"{len(set.intersection(*ids)):,} shared by all), so their numbers are not "
                                     f"directly comparable."))
    header = ["run", "model", "test images", "test AUC", "95% interval (bootstrap over the test images)",
              "TPR at 1% FPR", "TPR at 5% FPR", "parameters", "multiply-adds", "latency, ms at batch 1"]
    return [*lines, page.table(header, rows),
            page.image(rocs_png([(n, s.labels, s.scores) for n, _, s in scored]), "ROC curves overlaid")]


def display_names(folders: list[Path]) -> list[str]:
    """Each folder's name, or its path as given where two folders share a name."""
    names = [f.resolve().name or str(f) for f in folders]
    return [n if names.count(n) == 1 else str(f) for n, f in zip(names, folders)]


def expand(folders: list[Path]) -> list[Path]:
    """The folders, each parent of several searches followed by its searches (seed-<seed>/)."""
    out = []
    for folder in folders:
        out.append(folder)
        seeds = info_of(folder).get("searches") or []
        out += [folder / f"seed-{s}" for s in seeds if (folder / f"seed-{s}").is_dir()]
    return out


def output_path(cfg: ReportConfig) -> Path:
    out = Path(cfg.out) if cfg.out else Path(cfg.runs[0]) / REPORT if len(cfg.runs) == 1 else Path(REPORT)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; pass the name of the page, such as {out / REPORT}")
    return out


def run(cfg: ReportConfig) -> Path:
    """Write the page and print where it is."""
    for r in cfg.runs:
        if not Path(r).is_dir():
            raise UserError(f"{r} is not a folder; pass the folder of a run or of a protocol")
    out = output_path(cfg)
    device = start_runtime(cfg.device, None)
    folders = expand([Path(r) for r in cfg.runs])
    names = display_names(folders)
    anchors = [f"run-{n}" for n in range(len(folders))]
    contents, body = [], []
    if len(cfg.runs) > 1:
        contents.append(("comparison", "Comparison"))
        body.append(page.heading(2, "Comparison", "comparison") + "\n" + "\n".join(comparison(folders, names)))
    for folder, name, anchor in zip(folders, names, anchors):
        contents.append((anchor, name))
        body.append(folder_section(folder, name, anchor, cfg.gallery, device))
    now = datetime.datetime.now().isoformat(timespec="seconds")
    html = page.document(f"darts-nexp report: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}",
                         f"Written {now} by darts-nexp {__version__} from {', '.join(cfg.runs)}. docs/report.md "
                         f"explains every part.", contents, body)
    try:
        write_atomic(out, html)
    except WriteFailed as e:
        raise e.or_else("pass another --out") from None
    print(f"report: {out}")
    return out
