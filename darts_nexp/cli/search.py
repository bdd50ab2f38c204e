"""darts-nexp search: the DARTS architecture search (Liu et al., 2018) on Nexperia or synthetic images.

usage:
  darts-nexp search [--config FILE] [--dataset synthetic|nexperia] [--data-dir DIR] [--epochs N]
                    [--order first|second] [--out RUN_DIR] [--genotype-out FILE] [flags below]
  darts-nexp search --resume RUN_DIR

Trains a supernet with alternating weight and architecture steps, then exports the argmax genotype to
genotypes/<dataset>.yaml (genotypes/nexp.yaml for Nexperia) and draws its cells. The run directory gets
config.yaml, TensorBoard events, checkpoint.pt (every epoch), genotype.yaml, genotype_history.yaml and the
drawings. docs/search.md explains every option.

example:
  darts-nexp search --config demo                      # the demo's search, on the built-in synthetic images
  darts-nexp search --dataset nexperia --data-dir /data/nexperia --epochs 50
"""
from __future__ import annotations

from ..engine.search import SearchConfig, SearchResult, run
from .entry import cli_entry
from .parse import parse_command


@cli_entry
def main(argv=None) -> SearchResult:
    cfg, ns = parse_command(SearchConfig, argv, __doc__, "search", prog="darts-nexp search")
    return run(cfg, resume=bool(ns.resume))
