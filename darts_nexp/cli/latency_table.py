"""darts-nexp latency-table: time every operation of the search space where the final network would run it, on the
target device, for a latency-aware search.

usage:
  darts-nexp latency-table --image-size H W [--stem auto|cifar|imagenet] [--layers L] [--init-channels C]
                           [--device auto|cpu|cuda] [--threads N] [--out FILE]

Each op is timed at batch 1 once per distinct size it meets in the final network's cells, and the times are summed
over the cells of each type, so the table says what each op on each edge costs the whole network. A search with
--latency-table FILE --latency-weight LAMBDA adds LAMBDA x the expected latency to its architecture loss, and every
searched genotype records the latency the table predicts for it. Without --out the table is cached under
~/.cache/darts-nexp/latency and reused. docs/deploy.md explains the table.

example:
  darts-nexp latency-table --image-size 64 64 --stem cifar --layers 6 --init-channels 10 --out demo-cpu.yaml
"""
from __future__ import annotations

from pathlib import Path

from ..engine.latency_table import LatencyTableConfig, run
from .entry import cli_entry
from .parse import parse_command


@cli_entry
def main(argv=None) -> Path:
    cfg, _ = parse_command(LatencyTableConfig, argv, __doc__, "latency-table", prog="darts-nexp latency-table",
                           resumable=False)
    return run(cfg)
