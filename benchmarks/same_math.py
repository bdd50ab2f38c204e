"""Variants of the same math, side by side in one process: which of them pays on this machine?

1. The fused mixed op (supernet/mixed_op.py, `fuse`) runs sep_conv_3x3's, sep_conv_5x5's and dil_conv_3x3's first
   depthwise convolutions as one grouped 5x5 convolution: one kernel call in place of three, at 75 multiply-adds per
   output pixel and channel in place of 9 + 25 + 9 = 43. Forward and backward of one edge, plain and fused, at each
   edge shape of search_step.py's supernet (C=8, 5 layers, CIFAR stem, batch 16, 64x64): (C, size, stride) =
   (8, 64, 1), (16, 64, 2), (16, 32, 1), (32, 32, 2), (32, 16, 1).
2. A weight step of that supernet: plain, fused, and in the channels-last memory format (network and batch).
3. A training step of the final network of the protocol and the demo (DARTS_V2, C=8, 5 cells, CIFAR stem, batch
   32 of 1x64x64, AdamW): plain and channels-last.

Each timed call of every variant in turn, rep by rep; medians.

    python benchmarks/same_math.py [--reps 20] [--steps 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

EDGES = ((8, 64, 1), (16, 64, 2), (16, 32, 1), (32, 32, 2), (32, 16, 1))


def interleaved(runs: dict, reps: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each callable in `runs`, called in turn rep by rep."""
    times = {name: [] for name in runs}
    for i in range(warmup + reps):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def edge_runs(C: int, size: int, stride: int, batch: int = 16) -> dict:
    from darts_nexp.space import PRIMITIVES
    from darts_nexp.supernet import MixedOp

    torch.manual_seed(0)
    ops = {"plain": MixedOp(C, stride), "fused": MixedOp(C, stride)}
    ops["fused"].load_state_dict(ops["plain"].state_dict())
    ops["fused"].fuse = True
    x = torch.randn(batch, C, size, size, requires_grad=True)
    weights = torch.randn(len(PRIMITIVES)).softmax(0)

    def run(op):
        def fn():
            op(x, weights).sum().backward()
        return fn
    return {name: run(op) for name, op in ops.items()}


def layout(model: torch.nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """x in the memory format of variant `name`, the model moved to it."""
    if name == "channels-last":
        model.to(memory_format=torch.channels_last)
        return x.contiguous(memory_format=torch.channels_last)
    return x


def supernet_runs(batch: int = 16) -> dict:
    from darts_nexp.bilevel.search_loop import weight_step
    from darts_nexp.supernet import SearchNetwork

    runs = {}
    for name in ("plain", "fused", "channels-last"):
        torch.manual_seed(0)
        model = SearchNetwork(num_classes=2, in_chans=3, init_channels=8, layers=5, stem="cifar")
        model.fuse_convolutions(name == "fused")
        opt = torch.optim.SGD(model.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        data = layout(model, torch.randn(batch, 3, 64, 64), name), torch.randint(0, 2, (batch,))
        runs[name] = lambda model=model, opt=opt, data=data: weight_step(model, data, opt, grad_clip=5.0)
    return runs


def final_runs(batch: int = 32) -> dict:
    from darts_nexp.final import FinalNetwork
    from darts_nexp.space import Genotype

    genotype = Genotype.load(Path(__file__).resolve().parents[1] / "genotypes" / "darts_v2.yaml")
    runs = {}
    for name in ("plain", "channels-last"):
        torch.manual_seed(0)
        model = FinalNetwork(genotype, init_channels=8, layers=5, stem="cifar", stem_multiplier=2, auxiliary=False)
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
        x, y = layout(model, torch.randn(batch, 1, 64, 64), name), torch.randint(0, 2, (batch,))

        def step(model=model, opt=opt, x=x, y=y):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
        runs[name] = step
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads; forward + backward of one edge, batch 16")
    for C, size, stride in EDGES:
        t = interleaved(edge_runs(C, size, stride), args.reps)
        print(f"edge C={C:>2} {size}x{size} stride {stride}: plain {1e3 * t['plain']:7.2f} ms, fused "
              f"{1e3 * t['fused']:7.2f} ms, fused/plain {t['fused'] / t['plain']:.2f}")
    for what, runs in (("weight step of the supernet", supernet_runs()), ("training step of the final network",
                                                                          final_runs())):
        t = interleaved(runs, args.steps)
        print(f"{what}: " + ", ".join(f"{name} {t[name]:.3f} s ({t[name] / t['plain']:.2f} of plain)" for name in t))


if __name__ == "__main__":
    main()
