"""darts-nexp ensemble: combine the test scores of several trained runs into one.

usage:
  darts-nexp ensemble RUN_DIR RUN_DIR [RUN_DIR ...] [--out DIR] [--combine mean|rank] [--weights fit|equal]

Every run must be a finished training run on the same splits (the same data and --seed). The scores are averaged
(probabilities, or ranks scaled to 0..1) with weights fitted on the validation split, and the threshold is chosen
there too. DIR gets metrics.json, predictions.csv, roc.png (and submission.csv for an unlabelled test folder), as
a training run does, and ensemble.json with each run's weight and AUCs. An existing --out is refused.

example:
  darts-nexp ensemble runs/train-A runs/train-B --out runs/ensemble-AB
"""
from __future__ import annotations

from ..engine.ensemble import EnsembleConfig, run
from .entry import cli_entry
from .parse import parse_command


@cli_entry
def main(argv=None) -> dict:
    cfg, _ = parse_command(EnsembleConfig, argv, __doc__, "ensemble", prog="darts-nexp ensemble", resumable=False)
    return run(cfg)
