"""Where `make demo` spends its time: the demo's search and training, run as its commands run them, with the time of
each phase summed.

Each phase's time is its own (exclusive): the batches a validation pass reads are counted under "batches", not under
"validation passes". What no phase of a command claims (progress bars, train AUC, logging, building the network,
start-up) is its "other".

    python benchmarks/demo_phases.py [--out DIR] [--stages search train] [-- EXTRA FLAGS FOR BOTH COMMANDS]

The commands' own flags follow `--`, say `-- --channels-last false`. DIR (default: a temporary folder) receives the
synthetic data, the runs and the genotype.

    python benchmarks/demo_phases.py --scoring 16 32 64 128 [--images 384]

times instead a scoring pass (eval mode, no gradients, channels-last) of the demo's two networks at each batch size:
its supernet (C=4, 3 cells) and its network, with DARTS_V2 cells (C=10, 6 cells), on 1x64x64 random images.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import tempfile
import time
from collections import defaultdict

from darts_nexp.bilevel import architect, search_loop
from darts_nexp.cli import search as search_command
from darts_nexp.cli import train as train_command
from darts_nexp.data import batches
from darts_nexp.engine import lifecycle, search, train

SECONDS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
_inner = [0.0]  # time claimed by phases inside the current one
STAGE = ["search"]  # the command running: every phase is counted under it


@contextlib.contextmanager
def phase(name: str):
    outer, _inner[0] = _inner[0], 0.0
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        SECONDS[f"{STAGE[0]}: {name}"] += elapsed - _inner[0]
        CALLS[f"{STAGE[0]}: {name}"] += 1
        _inner[0] = outer + elapsed


def timed(owner, attr: str, name: str) -> None:
    """Replace owner.attr, a function, by one that counts its time under `name`."""
    fn = getattr(owner, attr)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with phase(name):
            return fn(*args, **kwargs)

    setattr(owner, attr, wrapper)


def timed_iteration(owner, name: str) -> None:
    """Count the time `owner.__iter__` takes to yield each item (a batch: reading, augmenting, normalising)."""
    iterate = owner.__iter__

    def wrapper(self):
        items = iterate(self)
        while True:
            with phase(name):
                item = next(items, None)
            if item is None:
                return
            yield item

    owner.__iter__ = wrapper


def instrument() -> None:
    timed(search_loop, "weight_step", "weight steps")
    timed(architect.Architect, "step", "architecture steps")
    timed(train, "train_epoch", "training steps")
    timed(search, "search_splits", "images made or read")
    timed(train, "train_splits", "images made or read")
    timed(search.SearchJob, "save", "checkpoints and history")
    timed(train.TrainJob, "save", "checkpoints and history")
    timed(train.TrainJob, "end", "best checkpoint, threshold, calibration")
    timed(search, "_finish", "export and drawings")
    timed(lifecycle, "predict", "validation passes")
    timed(train, "predict", "test scoring")
    timed(train, "model_latency", "latency measurement")
    timed(train, "write_report", "report files")
    timed_iteration(batches.Batches, "batches")


def scoring(batch_sizes: list[int], n: int) -> None:
    """ms per image of a no-grad forward pass of each demo network, at each batch size, median of 3 passes."""
    import torch
    from search_step import NETS

    from darts_nexp.deploy.latency import median_seconds
    from darts_nexp.final import FinalNetwork
    from darts_nexp.runtime import start_runtime
    from darts_nexp.space import Genotype
    from darts_nexp.supernet import SearchNetwork

    cpu = start_runtime("cpu", None)  # the commands' threads and malloc setting
    torch.manual_seed(0)
    nets = {"supernet": SearchNetwork(num_classes=2, stem="cifar", **NETS["demo"]),
            "network": FinalNetwork(Genotype.load("darts_v2"), init_channels=10, layers=6, stem="cifar")}
    images = torch.randn(n, 1, 64, 64)
    print(f"{'network':<10} " + " ".join(f"{f'batch {b}':>10}" for b in batch_sizes) + "   (ms per image)")
    for name, model in nets.items():
        model.to(memory_format=torch.channels_last).eval()
        row = []
        for b in batch_sizes:
            chunks = [x.contiguous(memory_format=torch.channels_last) for x in images.split(b)]
            with torch.no_grad():
                seconds = median_seconds(lambda: [model(x) for x in chunks], cpu, warmup=1, repeats=3)
            row.append(1000 * seconds / n)
        print(f"{name:<10} " + " ".join(f"{ms:>10.2f}" for ms in row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="folder for data, runs and genotype (default: a temporary one)")
    parser.add_argument("--stages", nargs="+", choices=("search", "train"), default=["search", "train"])
    parser.add_argument("--scoring", nargs="+", type=int, metavar="BATCH",
                        help="time scoring passes at these batch sizes instead of running the demo")
    parser.add_argument("--images", type=int, default=384, help="images per scoring pass")
    parser.add_argument("extra", nargs="*", help="flags for both commands, after --")
    args = parser.parse_args()
    if args.scoring:
        scoring(args.scoring, args.images)
        return
    out = args.out or tempfile.mkdtemp(prefix="demo-phases-")
    os.makedirs(out, exist_ok=True)
    os.chdir(out)  # the demo's data/, runs/ and genotypes/ land here, as in a checkout
    instrument()
    commands = {"search": lambda: search_command.main(["--config", "demo", "--progress", "false", *args.extra]),
                "train": lambda: train_command.main(["--config", "demo", "--genotype", "genotypes/synthetic.yaml",
                                                     "--progress", "false", *args.extra])}
    totals = {}
    for stage in args.stages:
        STAGE[0] = stage
        before = sum(SECONDS.values())
        start = time.perf_counter()
        commands[stage]()
        totals[stage] = time.perf_counter() - start
        SECONDS[f"{stage}: other"] += totals[stage] - (sum(SECONDS.values()) - before)
    whole = sum(totals.values())
    print(f"\n{'phase':<48} {'calls':>6} {'seconds':>9} {'share':>7}")
    for name, seconds in sorted(SECONDS.items(), key=lambda kv: -kv[1]):
        print(f"{name:<48} {CALLS.get(name, 0):>6} {seconds:>9.1f} {seconds / whole:>7.1%}")
    print(" ".join(f"{stage} {seconds:.1f} s" for stage, seconds in totals.items()) + f", whole {whole:.1f} s")


if __name__ == "__main__":
    main()
