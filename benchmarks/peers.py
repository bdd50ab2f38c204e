"""darts-nexp's search step beside its two peers', in one process: the reference DARTS (quark0/darts) and pt.darts
(khanrc/pt.darts), each from a checkout given on the command line (their code is never copied here).

Setup of search_step.py for all three: supernet C=8, 5 cells, 4 nodes, stem multiplier 3, 2 classes, batch 16 of
3x64x64 random input, SGD lr 0.025 momentum 0.9 wd 3e-4 with gradient clipping 5, Adam on the alphas. Three modes
per implementation, as each implementation's own training loop runs them:
- weight: one weight step;
- first: a first-order architecture step (the validation loss's backward, Adam on the alphas), then a weight step;
- second: the implementation's unrolled architecture step, then a weight step.
darts-nexp runs twice, in the default memory format and channels-last (its default where torch has oneDNN), and
with --grad-checkpointing a third time, channels-last with each op recomputed in the backward pass. Every
(implementation, mode) in turn, step by step, medians over --steps; peak memory of each in a fresh subprocess
(VmHWM). The peers are written for CUDA: their `.cuda()` calls are made no-ops here.

    python benchmarks/peers.py --darts /path/to/quark0/darts --ptdarts /path/to/pt.darts [--steps 2] [--warmup 1]
                               [--grad-checkpointing]
"""
from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from same_math import interleaved  # noqa: E402  (a neighbour script, not a package)

MODES = ("weight", "first", "second")
MOMENTUM, WEIGHT_DECAY, LR, CLIP = 0.9, 3e-4, 0.025, 5.0
CHECKPOINTED = ", grad checkpointing"


def _batch():
    return torch.randn(16, 3, 64, 64), torch.randint(0, 2, (16,))


def _import_from(root: Path, *names: str) -> list:
    """Import `names` from the checkout `root`, which the other peer may shadow with modules of the same names
    (genotypes, architect, ...): those are dropped from sys.modules first, and the modules loaded here keep
    theirs."""
    import importlib

    for name in [m for m in sys.modules if m.split(".")[0] in
                 {"genotypes", "architect", "operations", "model_search", "utils", "models", "config"}]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        sys.path.remove(str(root))


def quark0(root: Path):
    """The reference DARTS: cnn/model_search.Network and cnn/architect.Architect, as cnn/train_search.py uses them."""
    torch.manual_seed(0)
    model_search, architect = _import_from(root / "cnn", "model_search", "architect")
    model = model_search.Network(8, 2, 5, nn.CrossEntropyLoss())
    opt = torch.optim.SGD(model.parameters(), LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    arch = architect.Architect(model, SimpleNamespace(momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
                                                      arch_learning_rate=3e-4, arch_weight_decay=1e-3))

    def weight(train):
        opt.zero_grad()
        model._loss(*train).backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()

    def step(mode: str):
        train, val = _batch(), _batch()
        if mode != "weight":
            arch.step(*train, *val, LR, opt, unrolled=mode == "second")
        weight(train)
    return step


def ptdarts(root: Path):
    """pt.darts: models/search_cnn.SearchCNNController and architect.Architect, as search.py uses them; its
    architect has no first order, so the first order is the validation loss's backward into the alphas."""
    torch.manual_seed(0)
    search_cnn, architect = _import_from(root, "models.search_cnn", "architect")
    model = search_cnn.SearchCNNController(3, 8, 2, 5, nn.CrossEntropyLoss(), device_ids=[0])
    w_optim = torch.optim.SGD(model.weights(), LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    alpha_optim = torch.optim.Adam(model.alphas(), 3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    arch = architect.Architect(model, MOMENTUM, WEIGHT_DECAY)

    def step(mode: str):
        train, val = _batch(), _batch()
        if mode != "weight":
            alpha_optim.zero_grad()
            if mode == "second":
                arch.unrolled_backward(*train, *val, LR, w_optim)
            else:
                model.loss(*val).backward()
            alpha_optim.step()
        w_optim.zero_grad()
        F.cross_entropy(model(train[0]), train[1]).backward()
        nn.utils.clip_grad_norm_(model.weights(), CLIP)
        w_optim.step()
    return step


def ours(channels_last: bool, grad_checkpointing: bool):
    """darts-nexp's supernet and architect, as benchmarks/search_step.py sets them up."""
    import search_step

    return search_step.setup("cpu", torch.get_num_threads(), channels_last, grad_checkpointing=grad_checkpointing)


def build(name: str, args):
    """The step function of implementation `name`: step(mode) runs one step of that mode on fresh batches."""
    if name == "quark0/darts":
        return quark0(Path(args.darts))
    if name == "pt.darts":
        return ptdarts(Path(args.ptdarts))
    return ours("channels-last" in name, name.endswith(CHECKPOINTED))


def no_cuda() -> None:
    """The peers call .cuda() on modules and tensors; on a CPU machine those calls leave them where they are."""
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    nn.Module.cuda = lambda self, *args, **kwargs: self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--darts", required=True, help="a checkout of github.com/quark0/darts")
    parser.add_argument("--ptdarts", required=True, help="a checkout of github.com/khanrc/pt.darts")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--grad-checkpointing", action="store_true", help="darts-nexp with grad checkpointing too")
    parser.add_argument("--memory-of", nargs=2, metavar=("IMPL", "MODE"), help="(internal) one peak memory")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    no_cuda()
    import warnings

    warnings.filterwarnings("ignore")  # the peers' deprecated calls (add_(Number, Tensor), ...), once per step
    if args.memory_of:
        from darts_nexp.runtime import peak_memory_mb

        impl, mode = args.memory_of
        step = build(impl, args)
        for _ in range(2):
            step(mode)
        print(json.dumps({"peak_rss_mb": peak_memory_mb(torch.device("cpu"))}))
        return
    impls = ["quark0/darts", "pt.darts", "darts-nexp", "darts-nexp channels-last"]
    impls += ["darts-nexp channels-last" + CHECKPOINTED] if args.grad_checkpointing else []
    steps = {impl: build(impl, args) for impl in impls}
    times = interleaved({(impl, mode): functools.partial(steps[impl], mode) for impl in impls for mode in MODES},
                        args.steps, args.warmup)
    print(f"torch {torch.__version__}, {args.threads} threads; median s/step over {args.steps} (peak RSS MB)")
    print("| implementation | " + " | ".join(MODES) + " | second / weight |")
    print("|---" * (len(MODES) + 2) + "|")
    for impl in impls:
        cells = []
        for mode in MODES:
            mem = ""
            if not args.no_memory:
                out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--memory-of", impl, mode], check=True,
                                     capture_output=True, text=True).stdout
                mem = f" ({json.loads(out.strip().splitlines()[-1])['peak_rss_mb']:.0f})"
            cells.append(f"{times[impl, mode]:.2f}{mem}")
        ratio = times[impl, "second"] / times[impl, "weight"]
        print(f"| {impl} | " + " | ".join(cells) + f" | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
