"""Time and peak memory of one search step: weight step only, first order (architecture + weight), second order
with the paper's finite-difference Hessian-vector product, and second order with the exact one (--hvp exact); then
how far the first order's and the difference's architecture gradients are from the exact one, on one pair of
batches. With --profile, where the time of each mode goes instead: its multiply-adds (torch.utils.flop_counter),
the FLOP/s achieved against --peak-gflops, and the operators with the most self CPU time (torch.profiler). With
--saved-tensors, what one training-mode forward pass keeps for its backward pass, by the kind of operation that
made each tensor (most of a weight step's peak memory).

Setup of docs/benchmarks.md: search network C=8, 5 layers, 2 classes, batch 16, 3x64x64 random input, CIFAR stem,
2 threads. Times: the four modes interleaved step by step in one process, so that a change in machine load hits
them alike; median over --steps. Peak memory: each mode alone in a fresh subprocess (VmHWM from /proc/self/status).

    python benchmarks/search_step.py [--steps 5] [--warmup 1] [--device cpu] [--channels-last] [--modes ...] [--bf16]
                                     [--net benchmark|demo]
    python benchmarks/search_step.py --profile [--peak-gflops 166]
    python benchmarks/search_step.py --saved-tensors [--net demo] [--channels-last]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time

import torch

from darts_nexp.runtime import peak_memory_mb

MODES = ("weight", "first", "second", "second-exact")
# --net: the benchmarks' supernet (the setup above), or the one `make demo` searches (configs/demo.yaml), whose
# convolutions are so small that the time outside them shows.
NETS = {"benchmark": dict(in_chans=3, init_channels=8, layers=5, stem_multiplier=3),
        "demo": dict(in_chans=1, init_channels=4, layers=3, stem_multiplier=2)}
BF16 = "+bf16"  # a mode's suffix: its forward passes under bf16 autocast (the finite-difference passes stay float32)


def setup(device: str, threads: int, channels_last: bool, net: str = "benchmark", grad_checkpointing: bool = False):
    from darts_nexp.bilevel import Architect
    from darts_nexp.bilevel.search_loop import weight_step
    from darts_nexp.supernet import SearchNetwork

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    model = SearchNetwork(num_classes=2, stem="cifar", **NETS[net]).to(dev)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    model.set_grad_checkpointing(grad_checkpointing)
    weight_opt = torch.optim.SGD(model.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    def bf16():
        return torch.autocast(dev.type, dtype=torch.bfloat16)

    architects = {}
    for suffix, autocast in (("", contextlib.nullcontext), (BF16, bf16)):
        architects.update({f"first{suffix}": Architect(model, "first", autocast=autocast),
                           f"second{suffix}": Architect(model, "second", autocast=autocast),
                           f"second-exact{suffix}": Architect(model, "second", hvp="exact", autocast=autocast)})

    def batch():
        x = torch.randn(16, NETS[net]["in_chans"], 64, 64, device=dev).contiguous(memory_format=layout)
        return x, torch.randint(0, 2, (16,), device=dev)

    def step(mode: str) -> float:
        train, val = batch(), batch()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        if not mode.startswith("weight"):
            architects[mode].step(train, val, eta=0.025, weight_optimizer=weight_opt)
        weight_step(model, train, weight_opt, grad_clip=5.0, autocast=bf16 if mode.endswith(BF16) else
                    contextlib.nullcontext)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    step.parts = model, weight_opt, architects, batch
    return step


def accuracy(step, modes) -> dict[str, float]:
    """Relative error and cosine of each mode's alpha gradient against the exact product's in float32, which
    tests/test_bilevel.py holds equal to a double backward through the virtual step."""
    import torch.nn.functional as F

    model, opt, architects, batch = step.parts
    train, val = batch(), batch()
    grads = {mode: torch.cat([t.flatten() for t in architects[mode].gradient(train, val, 0.025, opt)[1]])
             for mode in ["second-exact", *modes] if mode in architects}
    ref = grads.pop("second-exact")
    return {mode: (((g - ref).norm() / ref.norm()).item(), F.cosine_similarity(g, ref, dim=0).item())
            for mode, g in grads.items() if mode != "second-exact"}


def profile(step, modes, peak_gflops: float | None, top: int = 8) -> None:
    """Per mode: FLOPs of one step, the FLOP/s it achieved, and its costliest operators by self CPU time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    from torch.utils.flop_counter import FlopCounterMode

    for mode in modes:
        step(mode)  # warm-up
        with FlopCounterMode(display=False) as counter:
            step(mode)
        flops = counter.get_total_flops()
        seconds = step(mode)
        achieved = flops / seconds / 1e9
        share = f", {100 * achieved / peak_gflops:.1f}% of the {peak_gflops:g} GFLOP/s peak" if peak_gflops else ""
        print(f"\n{mode}: {flops / 1e9:.1f} GFLOP in {seconds:.2f} s = {achieved:.1f} GFLOP/s{share}")
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            step(mode)
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        for e in events[:top]:
            share = 100 * e.self_cpu_time_total / total
            print(f"  {e.key:<44} {e.self_cpu_time_total / 1e6:6.2f} s self ({share:4.1f}%), {e.count} calls")


def saved_tensors(step) -> None:
    """MiB kept for the backward pass of one forward pass of the supernet, by the autograd node that made each
    tensor (inputs and other constants by dtype); a storage kept twice counts once."""
    import collections

    model, _, _, batch = step.parts
    x, _ = batch()
    storages, by_maker = set(), collections.Counter()

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in storages:
            storages.add(storage.data_ptr())
            maker = type(t.grad_fn).__name__ if t.grad_fn is not None else f"(no node, {t.dtype})"
            by_maker[maker] += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    total = sum(by_maker.values())
    print(f"kept for backward: {total / 2**20:.0f} MiB")
    for maker, size in by_maker.most_common():
        print(f"  {maker:<36} {size / 2**20:7.1f} MiB ({100 * size / total:4.1f}%)")


def peak_memory(mode: str, args) -> dict:
    step = setup(args.device, args.threads, args.channels_last, args.net, args.grad_checkpointing)
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
    parser.add_argument("--grad-checkpointing", action="store_true", help="each op run again in the backward pass")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=MODES)
    parser.add_argument("--net", choices=tuple(NETS), default="benchmark")
    parser.add_argument("--bf16", action="store_true", help="each mode also under bf16 autocast, interleaved")
    parser.add_argument("--profile", action="store_true", help="FLOPs and an operator profile of each mode instead")
    parser.add_argument("--peak-gflops", type=float, help="the machine's float32 peak, for the share achieved")
    parser.add_argument("--saved-tensors", action="store_true",
                        help="what a forward pass keeps for backward, by the operation that made it, instead")
    parser.add_argument("--memory-of", help="(internal) report the peak memory of one mode")
    args = parser.parse_args()
    if args.memory_of:
        print(json.dumps(peak_memory(args.memory_of, args)))
        return
    modes = [m + suffix for m in args.modes for suffix in ("", BF16)[:1 + args.bf16]]
    step = setup(args.device, args.threads, args.channels_last, args.net, args.grad_checkpointing)
    if args.profile:
        profile(step, modes, args.peak_gflops)
        return
    if args.saved_tensors:
        saved_tensors(step)
        return
    times = {mode: [] for mode in modes}
    for i in range(args.warmup + args.steps):
        for mode in modes:
            seconds = step(mode)
            if i >= args.warmup:
                times[mode].append(seconds)
    flags = sys.argv[1:]
    for mode in modes:
        mem = json.loads(subprocess.run([sys.executable, __file__, *flags, "--memory-of", mode], check=True,
                                        capture_output=True, text=True).stdout)
        cuda = f", peak CUDA {mem['peak_cuda_mb']:.0f} MB" if "peak_cuda_mb" in mem else ""
        print(f"{mode:>17}: median {statistics.median(times[mode]):.3f} s/step "
              f"(all: {' '.join(f'{t:.2f}' for t in times[mode])}), peak RSS {mem['peak_rss_mb']:.0f} MB{cuda}")
    for mode in modes:
        base = "weight" + (BF16 if mode.endswith(BF16) else "")
        if mode != base and base in times:
            ratio = statistics.median(times[mode]) / statistics.median(times[base])
            print(f"{mode} step / {base} step: {ratio:.2f}x")
    for mode, (error, cosine) in accuracy(step, modes).items():
        print(f"{mode:>17} alpha gradient against the exact product's: relative error {error:.3g}, "
              f"cosine {cosine:.4f}")


if __name__ == "__main__":
    main()
