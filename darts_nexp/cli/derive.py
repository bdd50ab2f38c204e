"""darts-nexp derive: read the cell out of a finished search again, by perturbation (DARTS-PT), without searching
again.

usage:
  darts-nexp derive RUN_DIR [--derive-tune-steps N] [--derive-images N] [--seed S] [--device auto|cpu|cuda]

Rebuilds the search's supernet from its checkpoint and scores it on a fixed subset of the search's own validation
images: on each edge, in a seeded random order, the op whose removal raises the loss most is kept; then the two
input edges of each node the same way, with a few weight steps after each decision. Writes
genotype-perturbation.yaml beside the search's genotype.yaml (the argmax cell), and into RUN_DIR/perturbation/
the cell drawings and decisions.yaml (every loss measured). docs/search.md explains it.

example:
  darts-nexp derive runs/search-20261206-101500
  darts-nexp train --config demo --genotype runs/search-20261206-101500/genotype-perturbation.yaml
"""
from __future__ import annotations

from ..engine.derive import DeriveConfig, run
from .entry import cli_entry
from .parse import parse_command


@cli_entry
def main(argv=None):
    cfg, _ = parse_command(DeriveConfig, argv, __doc__, "derive", prog="darts-nexp derive", resumable=False)
    return run(cfg)
