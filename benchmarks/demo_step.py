"""Seconds of one search step of the demo (configs/demo.yaml's search: first-order architecture step plus weight
step, 64x64, C=4, 3 cells, batch 16, AdamW) on one fixed batch, so that two code trees can be timed side by side on
the same machine:

    PYTHONPATH=OLD_TREE python benchmarks/demo_step.py; PYTHONPATH=NEW_TREE python benchmarks/demo_step.py

Prints which darts_nexp it timed, and the median of --steps steps after one untimed step.
"""
import argparse
import statistics
import time

import torch

import darts_nexp
from darts_nexp.bilevel.search_loop import weight_step
from darts_nexp.cli import search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    cfg = search.SearchConfig(order="first", batch_size=16, init_channels=4, layers=3, stem="cifar",
                              stem_multiplier=2, optimizer="adamw", lr=0.003, lr_min=0.0001, arch_lr=0.03)
    torch.manual_seed(0)
    model, weight_opt, _, architect = search.build(cfg, torch.device("cpu"))
    batch = torch.randn(16, 1, 64, 64), torch.randint(0, 2, (16,))

    def step() -> float:
        start = time.perf_counter()
        architect.step(batch, batch, cfg.lr, weight_opt)
        weight_step(model, batch, weight_opt, cfg.grad_clip)
        return time.perf_counter() - start

    step()  # the first step allocates
    times = [step() for _ in range(args.steps)]
    print(f"{darts_nexp.__file__}: median step {statistics.median(times):.3f} s "
          f"({' '.join(f'{t:.2f}' for t in sorted(times))})")


if __name__ == "__main__":
    main()
