"""darts-nexp evaluate: score a folder of images with a trained network, as new production images get their defect
scores.

usage:
  darts-nexp evaluate RUN_DIR|CHECKPOINT|FILE.onnx|FILE.torchscript --data-dir FOLDER [--out DIR] [--labels-csv CSV]
                      [--threshold T | --threshold-cost-ratio R | --threshold-max-fpr F] [--device auto|cpu|cuda]

The network, its input size and preprocessing all come from the checkpoint (best.pt of a run directory by default)
or from an exported file (darts-nexp export), which runs on ONNX Runtime on the CPU, or TorchScript.
Writes submission.csv (id,defect_score) for every image and, for the images whose label is known (class folders
such as good/ and defect/, or --labels-csv), metrics.json, predictions.csv and roc.png, as a training run does.
An existing --out is refused. docs/training.md explains the options.

example:
  darts-nexp evaluate runs/train-20261206-101500 --data-dir /data/line-3/today
"""
from __future__ import annotations

from ..engine.evaluate import EvaluateConfig, run
from .entry import cli_entry
from .parse import parse_command


@cli_entry
def main(argv=None) -> dict:
    cfg, _ = parse_command(EvaluateConfig, argv, __doc__, "evaluate", prog="darts-nexp evaluate", resumable=False)
    return run(cfg)
