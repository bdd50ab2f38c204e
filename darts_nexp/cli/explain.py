"""darts-nexp explain: where does a trained network look? Grad-CAM of the defect score, scored against the defect
boxes, and a t-SNE map of its features.

usage:
  darts-nexp explain RUN_DIR [--out DIR] [--images N] [--tsne-images N] [--data-dir DIR] [--device auto|cpu|cuda]

RUN_DIR is a training run (a DARTS network or a torchvision model); its best network is explained on the images
it was scored on. Writes gradcam.png, localisation.json (when the data have defect boxes) and tsne.png into
RUN_DIR/explain, or into --out; a folder that already holds them is refused. docs/explain.md explains the scores.

example:
  darts-nexp explain runs/train-20261206-101500 --images 8
"""
from __future__ import annotations

from ..engine.explain import ExplainConfig, run
from .entry import cli_entry
from .parse import parse_command


@cli_entry
def main(argv=None) -> dict:
    cfg, _ = parse_command(ExplainConfig, argv, __doc__, "explain", prog="darts-nexp explain", resumable=False)
    return run(cfg)
