"""darts-nexp render: draw the normal and reduction cells of a genotype with graphviz.

usage:
  darts-nexp render GENOTYPE --out DIR

Writes DIR/normal.gv and DIR/reduce.gv, plus .svg and .png when graphviz's `dot` program is installed.
GENOTYPE is a genotype file, or the name of a published one (darts_v1, darts_v2).

example:
  darts-nexp render genotypes/nexp.yaml --out cells/
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import tyro

from ..errors import UserError
from ..io import WriteFailed
from ..render import INSTALL_HINT, render_genotype
from ..space import Genotype
from .entry import cli_entry
from .parse import help_text, parse_args


@dataclass
class RenderConfig:
    """Settings of `darts-nexp render`."""
    genotype: Annotated[tyro.conf.Positional[Optional[str]], tyro.conf.arg(metavar="GENOTYPE", help_behavior_hint="")
                        ] = None
    """a genotype file (docs/genotypes.md), or darts_v1 / darts_v2"""
    out: Annotated[Optional[str], tyro.conf.arg(metavar="DIR", help_behavior_hint="")] = None
    """folder for normal.* and reduce.*"""


@cli_entry
def main(argv=None) -> list[Path]:
    cfg = parse_args(RenderConfig, argv, help_text(__doc__, []), prog="darts-nexp render")
    if cfg.genotype is None or cfg.out is None:
        raise UserError("pass a genotype and a folder: darts-nexp render GENOTYPE --out DIR")
    genotype = Genotype.load(cfg.genotype)
    try:
        paths, has_dot = render_genotype(genotype, cfg.out)
    except WriteFailed as e:
        raise e.or_else("pass another folder to --out") from None
    for p in paths:
        print(p)
    if not has_dot:
        print(INSTALL_HINT)
    return paths
