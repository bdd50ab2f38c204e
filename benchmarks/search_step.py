"""Time and peak memory of one search step: weight step only, first order (architecture + weight), second order.

Setup of docs/benchmarks.md: search network C=8, 5 layers, 2 classes, batch 16, 3x64x64 random input, CIFAR stem,
2 threads. Times: the three modes interleaved step by step in one process, so that a change in machine load hits
them alike; median over --steps. Peak memory: each mode alone in a fresh subprocess (VmHWM from /proc/self/status).

    python benchmarks/search_step.py [--steps 5] [--warmup 1] [--device cpu] [--channels-last]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from darts_nexp.runtime import peak_memory_mb

MODES = ("weight", "first", "second")


def setup(device: str, threads: int, channels_last: bool):
    from darts_nexp.bilevel import Architect
    from darts_nexp.bilevel.search_loop import weight_step
    from darts_nexp.supernet import SearchNetwork

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    model = SearchNetwork(num_classes=2, in_chans=3, init_channels=8, layers=5, stem="cifar").to(dev)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    weight_opt = torch.optim.SGD(model.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    architects = {"first": Architect(model, "first"), "second": Architect(model, "second")}

    def batch():
        x = torch.randn(16, 3, 64, 64, device=dev).contiguous(memory_format=layout)
        return x, torch.randint(0, 2, (16,), device=dev)

    def step(mode: str) -> float:
        train, val = batch(), batch()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        if mode != "weight":
            architects[mode].step(train, val, eta=0.025, weight_optimizer=weight_opt)
        weight_step(model, train, weight_opt, grad_clip=5.0)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    return step


def peak_memory(mode: str, args) -> dict:
    step = setup(args.device, args.threads, args.channels_last)
    for _ in range(2):
        step(mode)
    out = {"peak_rss_mb": peak_memory_mb(torch.device("cpu"))}  # this subprocess's own peak (VmHWM)
    if args.device.startswith("cuda"):
        out["peak_cuda_mb"] = peak_memory_mb(torch.device(args.device))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--memory-of", choices=MODES, help="(internal) report the peak memory of one mode")
    args = parser.parse_args()
    if args.memory_of:
        print(json.dumps(peak_memory(args.memory_of, args)))
        return
    step = setup(args.device, args.threads, args.channels_last)
    times = {mode: [] for mode in MODES}
    for i in range(args.warmup + args.steps):
        for mode in MODES:
            seconds = step(mode)
            if i >= args.warmup:
                times[mode].append(seconds)
    flags = sys.argv[1:]
    for mode in MODES:
        mem = json.loads(subprocess.run([sys.executable, __file__, *flags, "--memory-of", mode], check=True,
                                        capture_output=True, text=True).stdout)
        cuda = f", peak CUDA {mem['peak_cuda_mb']:.0f} MB" if "peak_cuda_mb" in mem else ""
        print(f"{mode:>6}: median {statistics.median(times[mode]):.3f} s/step "
              f"(all: {' '.join(f'{t:.2f}' for t in times[mode])}), peak RSS {mem['peak_rss_mb']:.0f} MB{cuda}")
    ratio = statistics.median(times["second"]) / statistics.median(times["weight"])
    print(f"second-order step / weight step: {ratio:.2f}x")


if __name__ == "__main__":
    main()
