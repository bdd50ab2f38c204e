"""darts-nexp protocol: does the search beat random cells? Searched, random and published cells, trained the same
way on the same images.

usage:
  darts-nexp protocol --config protocol-cpu|protocol-gpu|FILE [--out DIR] [--search-seeds S ...] [--n-random N]
                      [--train-seeds S ...] [--latency-weights 0 W ...] [flags below]

Runs one search per search seed, draws random cells from the same space (by default only cells whose final network
has DARTS_V2's parameter count, within 10%), adds the published cells (DARTS_V1, DARTS_V2), and trains every cell
with one recipe and the same training seeds; `--latency-weights 0 W` adds a latency-aware search per seed. Then it
measures every cell's latency side by side. Writes rows.csv, rows.json, summary.md (searched against random against
published, with a verdict and the cost), latency.json and pareto.png (test AUC against latency) into --out. Run the
same command again after a kill: finished runs are kept, unfinished ones resumed. The config file's settings sit
under `protocol:`. docs/search.md explains the outputs.

example:
  darts-nexp protocol --config protocol-cpu --out runs/protocol-cpu       # about 45 minutes on 2 CPU cores
"""
from __future__ import annotations

from ..engine.protocol import ProtocolConfig, run
from .entry import cli_entry
from .parse import parse_command


def parse(argv=None) -> ProtocolConfig:
    """The protocol's config: defaults < the `protocol:` section of --config FILE < the command line."""
    return parse_command(ProtocolConfig, argv, __doc__, "protocol", prog="darts-nexp protocol", resumable=False)[0]


@cli_entry
def main(argv=None) -> list[dict]:
    return run(parse(argv))
