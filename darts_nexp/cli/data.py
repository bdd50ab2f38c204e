"""darts-nexp data: look at a data set folder, or write the built-in synthetic one.

usage:
  darts-nexp data summary DIR [--labels-csv CSV] [--image-size H W]
  darts-nexp data synthetic --out DIR [--n-train N] [--n-test N] [--size H W] [--seed S]

summary prints what a data set folder holds (layout, classes, test labels, image sizes, defect boxes, duplicates,
unreadable files); synthetic writes a Nexperia-like set in the real stage-2 layout (docs/data.md).

example:
  darts-nexp data summary /data/nexperia
  darts-nexp data synthetic --out data/synthetic-big --n-train 20000
"""
from __future__ import annotations

import dataclasses
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Annotated, Optional

import tyro

from ..config import validate
from ..data.config import DataConfig, SyntheticConfig
from ..data.summary import summary
from ..data.synthetic import generate
from ..errors import UserError
from .entry import cli_entry
from .parse import help_text, parse_args

SUBCOMMANDS = ("summary", "synthetic")


@dataclass
class SummaryConfig:
    """Settings of `darts-nexp data summary`."""
    data_dir: Annotated[tyro.conf.Positional[Optional[str]], tyro.conf.arg(metavar="DIR", help_behavior_hint="")
                        ] = None
    """data set root (stage 1, stage 2 or plain good/ + defect/ layout)"""
    labels_csv: Annotated[Optional[str], tyro.conf.arg(aliases=("--data.labels-csv",))] = None
    """id,label CSV for the test folder"""
    cache_dir: Annotated[Optional[str], tyro.conf.arg(aliases=("--data.cache-dir",), help_behavior_hint="")] = None
    """decoded-image cache (default <DIR>/.cache, or ~/.cache/darts-nexp if that is not writable)"""
    image_size: Annotated[list[int], tyro.conf.arg(aliases=("--data.image-size",), metavar="H W")] = field(
        default_factory=lambda: [64, 64])
    """size the images are decoded at (duplicates are found at this size)"""


@dataclass
class SyntheticOut(SyntheticConfig):
    """Settings of `darts-nexp data synthetic`."""
    out: Annotated[Optional[str], tyro.conf.arg(metavar="DIR", help_behavior_hint="")] = None
    """output folder"""


@cli_entry
def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        if argv and argv[0] in ("-h", "--help"):
            print(help_text(__doc__, []))
            return
        raise UserError(f"darts-nexp data takes one of {', '.join(SUBCOMMANDS)}: darts-nexp data summary DIR")
    command, rest = argv[0], argv[1:]
    if command == "summary":
        logging.basicConfig(format="%(levelname)s: %(message)s")
        cfg = parse_args(SummaryConfig, rest, help_text(__doc__, []), prog="darts-nexp data summary")
        if cfg.data_dir is None:
            raise UserError("pass the data set folder: darts-nexp data summary DIR")
        data = DataConfig(dataset="nexperia", data_dir=cfg.data_dir, labels_csv=cfg.labels_csv,
                          image_size=cfg.image_size, cache_dir=cfg.cache_dir)
        validate(data)
        print("\n".join(summary(data)))
        return
    cfg = parse_args(SyntheticOut, rest, help_text(__doc__, []), prog="darts-nexp data synthetic")
    if cfg.out is None:
        raise UserError("pass the folder to write: darts-nexp data synthetic --out DIR")
    start = time.time()
    # The plain SyntheticConfig: the set records its parameters, and `out` is not one of them.
    generate(SyntheticConfig(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(SyntheticConfig)}), cfg.out)
    print(f"wrote {cfg.n_train} train and {cfg.n_test} test images to {cfg.out} in {time.time() - start:.1f}s")
