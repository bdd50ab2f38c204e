"""darts-nexp report: one self-contained HTML page of runs, for a person to read: model, scores, mistakes, search.

usage:
  darts-nexp report RUN_DIR [RUN_DIR ...] [--out FILE.html] [--gallery N] [--device auto|cpu|cuda]

Each RUN_DIR is a run folder (train, evaluate, ensemble, search) or a protocol folder. The page embeds every image
and needs no network: it opens from disk in any browser. One folder's page goes to RUN_DIR/report.html, several
folders' (with a table of them side by side) to report.html in the current folder, unless --out says where; an
existing page there is replaced. What a run lacks (unfinished, damaged, old) is said in its place.
docs/report.md explains every part of the page.

examples:
  darts-nexp report runs/train-20261206-101500
  darts-nexp report runs/train-A runs/train-B runs/search-C --out compare.html
"""
from __future__ import annotations

from pathlib import Path

from ..engine.report import ReportConfig, run
from .entry import cli_entry
from .parse import help_text, parse_args


@cli_entry
def main(argv=None) -> Path:
    return run(parse_args(ReportConfig, argv, help_text(__doc__, []), prog="darts-nexp report"))
