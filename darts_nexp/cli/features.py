"""darts-nexp features: classic classifiers (LDA, random forest, logistic regression, an RBF SVM) on the
penultimate features of a trained network, as the reports on deep features did.

usage:
  darts-nexp features RUN_DIR [--out DIR] [--classifier lda,rf,lr,svm] [--max-train N] [--data-dir DIR]

Each classifier is fitted on the features of (a stratified sample of at most --max-train) training images and
scored by AUC on the validation and test images of the run, beside the network's own head. Prints a table and
writes features.json into RUN_DIR/features, or into --out; a folder that already holds it is refused.

example:
  darts-nexp features runs/train-20261206-101500 --classifier lda,rf
"""
from __future__ import annotations

from ..engine.features import FeaturesConfig, run
from .entry import cli_entry
from .parse import parse_command


@cli_entry
def main(argv=None) -> dict:
    cfg, _ = parse_command(FeaturesConfig, argv, __doc__, "features", prog="darts-nexp features", resumable=False)
    return run(cfg)
