"""darts-nexp train: train the network of a genotype from scratch (Liu et al., 2018, sec. 3.3), or a torchvision
model, and measure its test AUC.

usage:
  darts-nexp train --genotype FILE|darts_v2 [--config FILE] [--dataset synthetic|nexperia] [--data-dir DIR]
                   [--epochs N] [--seed S] [--out RUN_DIR] [flags below]
  darts-nexp train --model resnet18 [--pretrained none|imagenet|PATH] [--freeze-epochs N] [...]
  darts-nexp train --resume RUN_DIR
  darts-nexp train --genotype FILE --summary [--image-size H W]     (parameters and multiply-adds, then exit)

The run directory gets config.yaml, genotype.yaml (DARTS), TensorBoard events, best.pt (by validation AUC) and
last.pt, and from the best checkpoint on the test split: metrics.json, roc.png, predictions.csv, and submission.csv
when the dataset has an unlabelled test folder. docs/training.md explains every option.

example:
  darts-nexp train --config demo --genotype genotypes/synthetic.yaml
  darts-nexp train --genotype darts_v2 --dataset nexperia --data-dir /data/nexperia
"""
from __future__ import annotations

from ..data.config import AUTO_SIZE
from ..engine.train import TrainConfig, run, summary
from ..space import auto_stem
from .entry import cli_entry
from .parse import parse_command


def _summary_flag(parser) -> None:
    parser.add_argument("--summary", action="store_true", help="print the parameter count and multiply-adds at "
                                                                "--image-size H W, then exit")


@cli_entry
def main(argv=None):
    cfg, ns = parse_command(TrainConfig, argv, __doc__, "train", prog="darts-nexp train", extra=_summary_flag)
    if ns.summary:
        size = cfg.data.image_size or [AUTO_SIZE, AUTO_SIZE]
        if cfg.stem == "auto":
            cfg.stem = auto_stem(size)
        return summary(cfg, size)
    return run(cfg, resume=bool(ns.resume))
