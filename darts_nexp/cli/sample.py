"""darts-nexp sample: random cells from the DARTS search space, written as genotype files: the baseline that every
searched genotype has to beat.

usage:
  darts-nexp sample [--n N] [--seed S] [--out DIR] [--like GENOTYPE [--tolerance F]] [--nodes N]

Each cell is drawn as the random-search baselines draw theirs: for every intermediate node, two distinct inputs
and, on each edge, one operation other than `none`, uniformly. `--like GENOTYPE` keeps only cells whose final
network (at --init-channels, --layers and --stem) has the reference's parameter count within --tolerance.

example:
  darts-nexp sample --n 10 --like darts_v2 --out genotypes/random
"""
from __future__ import annotations

from pathlib import Path

from ..engine.sample import SampleConfig, run
from .entry import cli_entry
from .parse import help_text, parse_args


@cli_entry
def main(argv=None) -> list[Path]:
    return run(parse_args(SampleConfig, argv, help_text(__doc__, []), prog="darts-nexp sample"))
