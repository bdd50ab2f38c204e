"""Throughput, peak memory and projected time of the search and the final training at Nexperia scale, for each
speed option: the figures of docs/benchmarks.md "On a GPU".

    python benchmarks/gpu_scale.py --device cuda [--sizes 128 132 256 264]
                                   [--variants base no-amp no-cl compile grad-ckpt]
    python benchmarks/gpu_scale.py --device cuda --sizes 256 264 --partial-channels 4 --search-batch 64

A search step is an architecture step (--order, second by default as in search.py) plus a weight step of
search.py's default network (C=16, 8 cells, the stem that search.py picks for the size); a training step is one
step of train_final.py's default network (DARTS_V2, C=48, 14 cells, auxiliary head) or of --model NAME. Inputs are
random images of one channel on the device, so the data pipeline is left out (docs/benchmarks.md measures it
apart). Every case runs in a fresh process, so that its peak memory and compile caches are its own. The variants
switch one option from the commands' defaults on CUDA (bf16 autocast on, channels-last on, no torch.compile, no grad
checkpointing): `base`, `no-amp`, `no-cl`, `compile` and `grad-ckpt`.

Peak memory: on CUDA, the most allocated on the device over the timed steps (after the warm-up), which includes
the network, its optimiser state and the step's activations; on the CPU, the case process's peak resident size
(VmHWM) less that before darts-nexp's modules and the network were loaded, which also counts those modules (about
0.24 GB), the first step and allocator caches, so read it as an upper bound of what the step needs in float32.

Prints a Markdown table and writes every figure to --out (JSON). A case that fails (out of memory, say) is a row
with its error, and the others go on.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from darts_nexp.runtime import peak_memory_mb

ROOT = Path(__file__).resolve().parents[1]
NEXPERIA_TRAIN = 34_457  # labelled training images; the search trains weights on half and alphas on the other half
VARIANTS = {"base": {}, "no-amp": {"amp": False}, "no-cl": {"channels_last": False}, "compile": {"compile": True},
            "grad-ckpt": {"grad_checkpointing": True}}


def search_case(args, size, options):
    from darts_nexp.bilevel.search_loop import weight_step
    from darts_nexp.engine import search as search_cli
    from darts_nexp.space import auto_stem

    cfg = search_cli.SearchConfig(order=args.order, batch_size=args.search_batch, init_channels=args.search_channels,
                                  layers=args.search_layers, partial_channels=args.partial_channels,
                                  stem=auto_stem(size), **options)
    cfg.validate()
    device = torch.device(args.device)
    model, weight_opt, _, architect = search_cli.build(cfg, device)
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format

    def batch():
        x = torch.randn(cfg.batch_size, 1, *size, device=device).contiguous(memory_format=layout)
        return x, torch.randint(0, 2, (cfg.batch_size,), device=device)

    train, val = batch(), batch()

    def step():
        architect.step(train, val, cfg.lr, weight_opt)
        weight_step(model, train, weight_opt, cfg.grad_clip, autocast=architect.autocast)

    # Per step, one batch of the weight half: an epoch is as many steps as the weight half has batches.
    return step, cfg.batch_size, NEXPERIA_TRAIN / 2, cfg.epochs


def train_case(args, size, options):
    from darts_nexp.engine import train as train_cli
    from darts_nexp.final.loss import Criterion
    from darts_nexp.final.trainer import train_epoch
    from darts_nexp.runtime import Amp
    from darts_nexp.space import auto_stem

    cfg = train_cli.TrainConfig(model=args.model, genotype="darts_v2"
                                if args.model == "darts" else None, batch_size=args.train_batch, stem=auto_stem(size),
                                init_channels=args.train_channels, layers=args.train_layers, **options)
    cfg.validate()
    device = torch.device(args.device)
    model = train_cli.place(cfg, train_cli.build_model(cfg, train_cli.load_genotype(cfg)), device)
    optimizer, amp = train_cli.make_optimizer(cfg, model), Amp(device, cfg.amp, cfg.amp_dtype)
    criterion = Criterion("ce", cfg.label_smoothing)
    x = torch.randn(cfg.batch_size, 1, *size, device=device)
    y = torch.arange(cfg.batch_size, device=device) % 2  # both classes, so that the epoch's AUC is defined

    def step():
        train_epoch(model, [(x, y)], optimizer, criterion, cfg.auxiliary_weight, cfg.grad_clip, amp, epoch=1,
                    progress=False)

    # The training split is what remains of the labelled images after validation and test (data.md): about 80%.
    return step, cfg.batch_size, NEXPERIA_TRAIN * 0.8, cfg.epochs


def measure(args, task: str, size: tuple[int, int], options: dict) -> dict:
    """One case, in this process: seconds of the first step (compiling, when on), then the median of --steps."""
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    device = torch.device(args.device)
    before_mb = peak_memory_mb(device)  # on the CPU: the interpreter and torch, before the network exists
    step, images, epoch_images, epochs = (search_case if task == "search" else train_case)(args, size, options)

    def timed() -> float:
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start

    first = timed()
    for _ in range(args.warmup):
        timed()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    seconds = statistics.median(timed() for _ in range(args.steps))
    epoch_s = epoch_images / images * seconds
    return {"first_step_s": first, "step_s": seconds, "images_per_s": images / seconds, "epoch_min": epoch_s / 60,
            "projected_h": epoch_s * epochs / 3600,
            "peak_mb": peak_memory_mb(device) - (0 if cuda else before_mb)}


def cases(args) -> list[dict]:
    sizes = [tuple(args.sizes[i:i + 2]) for i in range(0, len(args.sizes), 2)]
    return [{"task": task, "size": size, "variant": variant} for size in sizes for task in args.tasks
            for variant in args.variants]


def run_case(case: dict, argv: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *argv, "--case", json.dumps(case)], capture_output=True,
                          text=True)
    if proc.returncode:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return {**case, "error": lines[-1] if lines else f"exit status {proc.returncode}"}
    return {**case, **json.loads(proc.stdout.strip().splitlines()[-1])}


def table(rows: list[dict]) -> str:
    lines = ["| task | size | variant | first step | step | images/s | peak memory | epoch | projected |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r['task']} | {r['size'][0]}x{r['size'][1]} | {r['variant']} |"
        if "error" in r:
            lines.append(f"{head} failed: {r['error'][:120]} | | | | | |")
            continue
        peak = f"{r['peak_mb']:,.0f} MiB"
        lines.append(f"{head} {r['first_step_s']:.2f} s | {r['step_s']:.3f} s | {r['images_per_s']:,.1f} | {peak} | "
                     f"{r['epoch_min']:.1f} min | {r['projected_h']:.1f} h |")
    return "\n".join(lines)


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 132, 256, 264], help="H W [H W ...]")
    parser.add_argument("--tasks", nargs="+", choices=("search", "train"), default=["search", "train"])
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=["base", "no-amp", "no-cl"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--order", choices=("first", "second"), default="second",
                        help="of the architecture step (search.py's default: second)")
    parser.add_argument("--search-batch", type=int, default=64)
    parser.add_argument("--search-channels", type=int, default=16)
    parser.add_argument("--search-layers", type=int, default=8)
    parser.add_argument("--partial-channels", type=int, default=1)
    parser.add_argument("--train-batch", type=int, default=32)
    parser.add_argument("--train-channels", type=int, default=48)
    parser.add_argument("--train-layers", type=int, default=14)
    parser.add_argument("--model", default="darts", help="darts (DARTS_V2) or a torchvision model name")
    parser.add_argument("--out", help="JSON file for every figure")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = parser.parse_args(argv)
    if len(args.sizes) % 2:
        parser.error(f"--sizes takes pairs H W, got {len(args.sizes)} numbers")
    return args


def main(argv=None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse(argv)
    if args.case:
        case = json.loads(args.case)
        print(json.dumps(measure(args, case["task"], tuple(case["size"]), VARIANTS[case["variant"]])))
        return []
    rows = []
    for case in cases(args):
        rows.append(run_case(case, argv))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(f"\n{table(rows)}")
    if args.out:
        Path(args.out).write_text(json.dumps({"argv": argv, "torch": torch.__version__, "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
