"""darts-nexp search: the DARTS architecture search (Liu et al., 2018) on Nexperia or synthetic images.

usage:
  darts-nexp search [--config FILE] [--dataset synthetic|nexperia] [--data-dir DIR] [--epochs N]
                    [--order first|second] [--out RUN_DIR] [--genotype-out FILE] [flags below]
  darts-nexp search --search-seeds 0 1 2 3 [--select-by supernet|retrain] [--select-epochs E] [--derive ...]
  darts-nexp search --resume RUN_DIR

Trains a supernet with alternating weight and architecture steps, then exports the argmax genotype to
genotypes/<dataset>.yaml (genotypes/nexp.yaml for Nexperia) and draws its cells. The run directory gets
config.yaml, TensorBoard events, checkpoint.pt (every epoch), genotype.yaml, genotype_history.yaml and the
drawings. With --derive perturbation the cell is read by perturbation (DARTS-PT) instead, beside the argmax one.
With several --search-seeds it searches once per seed (RUN_DIR/seed-<seed>) and chooses one cell among them by
--select-by: the supernet's validation AUC, or a short training of each cell (RUN_DIR/candidates.csv).
docs/search.md explains every option.

example:
  darts-nexp search --config demo                      # the demo's search, on the built-in synthetic images
  darts-nexp search --dataset nexperia --data-dir /data/nexperia --epochs 50
  darts-nexp search --config demo --search-seeds 0 1 2 3 --select-by retrain --select-epochs 2
"""
from __future__ import annotations

from ..engine.search import SearchConfig, SearchResult
from ..engine.select import run
from .entry import cli_entry
from .parse import parse_command


@cli_entry
def main(argv=None) -> SearchResult:
    cfg, ns = parse_command(SearchConfig, argv, __doc__, "search", prog="darts-nexp search")
    if cfg.select_by == "retrain" and cfg.select_train is None and ns.config:
        cfg.select_train = ns.config  # the short training follows the config's train: section
    return run(cfg, resume=bool(ns.resume))
