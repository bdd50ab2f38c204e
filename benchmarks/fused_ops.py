"""Does fusing the mixed op's first depthwise convolutions pay? Edge by edge, then the whole weight step.

The fused edge (supernet/mixed_op.py, `fuse`) runs sep_conv_3x3's, sep_conv_5x5's and dil_conv_3x3's first
depthwise convolutions as one grouped 5x5 convolution: one kernel call in place of three, at 75 multiply-adds per
output pixel and channel in place of 9 + 25 + 9 = 43. Which way that goes depends on the machine and the shape.

Setup of search_step.py: C=8, 5 layers, CIFAR stem, batch 16, 3x64x64, so the edges are (C, size, stride) =
(8, 64, 1), (16, 64, 2), (16, 32, 1), (32, 32, 2), (32, 16, 1). Each edge: forward and backward of one MixedOp with
fixed softmax weights; plain and fused interleaved rep by rep, median over --reps. Then one weight step of the whole
supernet, plain and fused interleaved, median over --steps.

    python benchmarks/fused_ops.py [--reps 20] [--steps 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

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


def step_runs(batch: int = 16) -> dict:
    from darts_nexp.bilevel.search_loop import weight_step
    from darts_nexp.supernet import SearchNetwork

    runs = {}
    for name in ("plain", "fused"):
        torch.manual_seed(0)
        model = SearchNetwork(num_classes=2, in_chans=3, init_channels=8, layers=5, stem="cifar")
        model.fuse_convolutions(name == "fused")
        opt = torch.optim.SGD(model.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        data = torch.randn(batch, 3, 64, 64), torch.randint(0, 2, (batch,))
        runs[name] = lambda model=model, opt=opt, data=data: weight_step(model, data, opt, grad_clip=5.0)
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
    t = interleaved(step_runs(), args.steps)
    print(f"weight step of the supernet: plain {t['plain']:.3f} s, fused {t['fused']:.3f} s, fused/plain "
          f"{t['fused'] / t['plain']:.2f}")


if __name__ == "__main__":
    main()
