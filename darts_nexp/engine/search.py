"""The DARTS architecture search (Liu et al., 2018): its config, and a run from data to an exported genotype.

The run directory gets config.yaml, TensorBoard events, checkpoint.pt (every epoch), genotype.yaml,
genotype_history.yaml and the cell drawings; the genotype is also exported to genotypes/<dataset>.yaml.
"""
from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Optional

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from .. import distributed
from ..bilevel import Architect, search_epoch
from ..deploy import lut
from ..config import DEFAULT_IN_HELP, check_at_least, check_optimiser, check_recompute
from ..data import Batches, DataConfig, check_splits, search_splits
from ..errors import Diverged, UserError
from ..io import WriteFailed, write_atomic
from ..loops import weight_optimizer
from ..render import INSTALL_HINT, render_genotype
from ..runs import COMMANDS, CONFIG, GENOTYPE, HISTORY, SEARCH_CHECKPOINT, Run, load_checkpoint
from ..runtime import Amp, compile_in_place, memory_note, start_runtime
from ..space import Genotype
from ..supernet import SearchNetwork
from ..supernet.derive import perturbation
from .inputs import resolve_input
from .lifecycle import keeping, open_run, run_epochs, start_run
from .search_log import log_epoch

DERIVED = "genotype-perturbation.yaml"
PERTURBATION_DIR = "perturbation"
DECISIONS = "decisions.yaml"


@dataclass
class Derivation:
    """How a search reads its cell: the settings shared by `darts-nexp search` and `darts-nexp derive`."""
    derive: Literal["argmax", "perturbation"] = "argmax"
    """argmax: each edge keeps its largest alpha (DARTS); perturbation: the op whose removal hurts the supernet most
    (DARTS-PT, docs/search.md), written to genotype-perturbation.yaml beside the argmax genotype.yaml"""
    derive_tune_steps: int = 10
    """perturbation: weight steps of the supernet after each edge and node decision, at the search's --lr"""
    derive_images: int = 256
    """perturbation: validation images the supernet is scored on, a fixed seeded subset of the architecture half"""

    def validate(self) -> None:
        if self.derive_tune_steps < 0:
            raise UserError(f"--derive-tune-steps must be 0 or more (got {self.derive_tune_steps}); 0 scores every "
                            f"decision on the supernet as the search left it")
        if self.derive_images < 16:
            raise UserError(f"--derive-images must be at least 16 (got {self.derive_images}): the perturbation "
                            f"scores the supernet's loss on them, and fewer give a loss too noisy to rank ops by")



@dataclass
class SearchConfig(Derivation):
    """Settings of `darts-nexp search` (docs/search.md)."""
    # The latency table may move (a cleaned cache): its contents are checked again on resume.
    RESUME_MAY_CHANGE = ("device", "threads", "amp", "channels_last", "grad_checkpointing", "compile", "progress",
                         "genotype_out", "max_skips", "latency_table", "data.data_dir", "data.cache_dir")
    seed: int = 0
    """seeds the split, the data order and the supernet"""
    search_seeds: list[int] = field(default_factory=list)
    """several searches, one per seed, each in RUN_DIR/seed-<seed>; then one cell is chosen among them by
    --select-by (docs/search.md). Empty, or one seed: a single search, of --seed"""
    select_by: Annotated[Optional[Literal["supernet", "retrain"]], DEFAULT_IN_HELP] = None
    """with several --search-seeds, how the cell is chosen: supernet (the supernet's validation AUC at the end of
    its search; free) or retrain (each cell's final network trained from scratch for --select-epochs and scored on
    its validation split, as the DARTS paper chose; the test split is never used). Default: retrain, which chose
    better than the supernet's AUC in both CPU-scale protocol runs (docs/search.md)"""
    select_epochs: int = 1
    """--select-by retrain: epochs of each cell's short training"""
    select_train: Annotated[Optional[str], DEFAULT_IN_HELP] = None
    """--select-by retrain: a config file (or the name of a shipped one) whose train: section is the recipe of the
    short training (default: the --config file of this search, else the darts-nexp train defaults)"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto (CUDA when present), cpu or cuda"""
    threads: Annotated[Optional[int], DEFAULT_IN_HELP] = None
    """CPU threads of torch (default: one per CPU this process may use)"""
    epochs: int = 50
    """search epochs"""
    order: Literal["first", "second"] = "second"
    """first or second (unrolled) order architecture gradient"""
    hvp: Literal["difference", "exact"] = "difference"
    """the second order's Hessian-vector product: difference (the paper's finite difference, two extra passes) or
    exact (one double backward: no truncation error, more memory; docs/benchmarks.md has both)"""
    batch_size: int = 64
    """images per batch, for both halves"""
    init_channels: int = 16
    """C: channels per node in the first cells (doubled at each reduction)"""
    layers: int = 8
    """cells in the supernet"""
    nodes: int = 4
    """intermediate nodes per cell"""
    stem: Literal["auto", "cifar", "imagenet"] = "auto"
    """cifar (one conv, full resolution), imagenet (stride-2 convs down to 1/8), or auto: imagenet from 128 px up"""
    stem_multiplier: int = 3
    """the cifar stem outputs stem_multiplier * C channels"""
    optimizer: Literal["sgd", "adamw"] = "sgd"
    """weight optimiser: sgd (the DARTS recipe), or adamw (first order only; pass a smaller --lr, such as 3e-3),
    which gets a small supernet off its starting plateau in far fewer steps (docs/search.md)"""
    lr: float = 0.025
    """weight learning rate, cosine-annealed to lr_min"""
    lr_min: float = 0.001
    """final weight learning rate"""
    momentum: float = 0.9
    """weight SGD momentum (also used by the virtual step)"""
    weight_decay: float = 3e-4
    """weight decay (decoupled, for adamw; also used by the virtual step)"""
    grad_clip: float = 5.0
    """max global norm of the weight gradient"""
    arch_lr: float = 3e-4
    """Adam learning rate of the alphas"""
    arch_betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    """Adam betas of the alphas"""
    arch_weight_decay: float = 1e-3
    """Adam weight decay of the alphas"""
    partial_channels: int = 1
    """PC-DARTS: each mixed op sees 1/K of the channels (1: all, as in DARTS; must divide init_channels)"""
    edge_norm: bool = False
    """PC-DARTS edge normalisation: per-edge weights, normalised over each node's incoming edges"""
    warmup_epochs: int = 0
    """epochs that train the weights only, before the first architecture step (PC-DARTS)"""
    beta_decay: float = 0.0
    """beta-DARTS: weight of the logsumexp regulariser on the alphas, ramped up linearly from 0 (0: off)"""
    aux_skip: float = 0.0
    """DARTS-: initial weight of an auxiliary skip on every edge, decayed linearly to 0 (0: off)"""
    latency_weight: float = 0.0
    """lambda of the latency term added to the architecture loss: lambda x expected latency in ms, or with
    --latency-target lambda x the ms above it (0: off; needs --latency-table)"""
    latency_target: Annotated[Optional[float], DEFAULT_IN_HELP] = None
    """ms of the supernet's expected latency (over all its edges, as --latency-weight sees it) that cost nothing
    (default: every ms costs)"""
    latency_table: Annotated[Optional[str], DEFAULT_IN_HELP] = None
    """latency table of the final network on the target device (darts-nexp latency-table); with it, the genotype
    records its predicted latency"""
    max_skips: Optional[int] = None
    """cap on the skip connections of the exported normal cell (P-DARTS keeps 2; default: no cap)"""
    amp: bool = True
    """bf16 autocast in every forward pass of the search, weight and architecture steps (CUDA only)"""
    channels_last: bool = True
    """the channels-last memory format for the supernet: faster on the CPU and the GPU (docs/benchmarks.md)"""
    grad_checkpointing: bool = False
    """keep only each operation's input in the forward pass and run it again in the backward pass: the same
    numbers in half the memory or less, for 1.2-2x the time (docs/search.md)"""
    compile: bool = False
    """torch.compile the supernet: the first steps of an epoch are slow while it compiles (docs/search.md)"""
    progress: bool = True
    """show a progress bar per epoch"""
    out: Annotated[Optional[str], DEFAULT_IN_HELP] = None
    """run directory (default runs/search-<date>-<time>)"""
    genotype_out: Annotated[Optional[str], DEFAULT_IN_HELP] = None
    """genotype export (default genotypes/nexp.yaml, or genotypes/<dataset>.yaml)"""
    data: DataConfig = field(default_factory=DataConfig)

    def validate(self) -> None:
        super().validate()
        check_at_least(self, epochs=1, batch_size=2, layers=1, nodes=1, init_channels=2)  # BatchNorm: 2 images
        if len(set(self.search_seeds)) != len(self.search_seeds):
            raise UserError(f"--search-seeds {' '.join(map(str, self.search_seeds))} repeats a seed; give each once")
        if self.select_by is not None and len(self.search_seeds) < 2:
            raise UserError(f"--select-by {self.select_by} chooses among several searches: pass --search-seeds with "
                            f"2 or more seeds (such as --search-seeds 0 1 2 3), or drop --select-by")
        if self.select_epochs < 1:
            raise UserError(f"--select-epochs must be 1 or more (got {self.select_epochs}): each candidate cell "
                            f"trains for that many epochs before its validation AUC is read")
        if self.stem == "imagenet" and self.init_channels % 2:
            raise UserError(f"the imagenet stem needs an even init_channels (got {self.init_channels})")
        if len(self.arch_betas) != 2 or not all(0 <= b < 1 for b in self.arch_betas):
            raise UserError(f"--arch-betas takes two numbers in [0, 1), such as 0.5 0.999 (got {self.arch_betas})")
        if self.stem_multiplier < 1:
            raise UserError(f"--stem-multiplier must be 1 or more (got {self.stem_multiplier})")
        if self.partial_channels < 1:
            raise UserError(f"--partial-channels must be 1 or more (got {self.partial_channels}); 1 keeps every "
                            f"channel, as DARTS does")
        if self.init_channels % self.partial_channels:
            raise UserError(f"--partial-channels {self.partial_channels} must divide --init-channels "
                            f"{self.init_channels}; pick a divisor such as 2 or 4, or change the channels")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise UserError(f"--warmup-epochs {self.warmup_epochs} must be in 0..{self.epochs - 1} (fewer than "
                            f"--epochs {self.epochs}), or no architecture step would ever run")
        if self.beta_decay < 0 or self.aux_skip < 0:
            raise UserError(f"--beta-decay and --aux-skip must be >= 0 (got {self.beta_decay}, {self.aux_skip})")
        if self.latency_weight < 0 or not math.isfinite(self.latency_weight):
            raise UserError(f"--latency-weight must be a finite number >= 0 (got {self.latency_weight}); 0 leaves "
                            f"latency out of the search")
        if self.latency_weight and self.latency_table is None:
            raise UserError("--latency-weight needs --latency-table FILE: measure one on the target device with "
                            "darts-nexp latency-table (docs/deploy.md)")
        if self.latency_target is not None and not self.latency_target > 0:
            raise UserError(f"--latency-target is a latency in ms, > 0 (got {self.latency_target})")
        if self.latency_target is not None and not self.latency_weight:
            raise UserError("--latency-target applies to the latency term: pass --latency-weight too (or drop the "
                            "target)")
        if self.max_skips is not None and not 0 <= self.max_skips <= 2 * self.nodes:
            raise UserError(f"--max-skips must be in 0..{2 * self.nodes} (got {self.max_skips})")
        if self.optimizer == "adamw" and self.order == "second":
            raise UserError("--order second differentiates through one SGD weight step (DARTS, eq. 7); with "
                            "--optimizer adamw use --order first, or keep --optimizer sgd")
        if self.hvp == "exact" and self.order == "first":
            raise UserError("--hvp exact is the second order's Hessian-vector product; the first order takes none: "
                            "pass --order second, or drop --hvp")
        check_recompute(self)
        check_optimiser(self, positive=("lr", "arch_lr", "grad_clip"), at_least_zero=("lr_min", "weight_decay",
                                                                                     "arch_weight_decay"))

    def genotype_path(self) -> Path:
        if self.genotype_out:
            return Path(self.genotype_out)
        return Path("genotypes") / ("nexp.yaml" if self.data.dataset == "nexperia" else f"{self.data.dataset}.yaml")


@dataclass
class SearchResult:
    run_dir: Path
    genotype: Genotype
    genotype_path: Path
    alphas: dict  # name -> (edges, len(PRIMITIVES)) tensor
    history: list  # one dict per epoch
    seconds: float


def build(cfg: SearchConfig, device: torch.device, ranks: distributed.Ranks = distributed.SINGLE):
    """The supernet and its three optimisation objects, as a run starts them."""
    model = SearchNetwork(num_classes=2, in_chans=cfg.data.channels, init_channels=cfg.init_channels,
                          layers=cfg.layers, nodes=cfg.nodes, stem=cfg.stem, stem_multiplier=cfg.stem_multiplier,
                          partial_channels=cfg.partial_channels, edge_norm=cfg.edge_norm).to(device)
    weight_opt = weight_optimizer(cfg.optimizer, model.weights(), cfg.lr, cfg.momentum, cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(weight_opt, cfg.epochs, eta_min=cfg.lr_min)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    model.set_grad_checkpointing(cfg.grad_checkpointing)
    if cfg.compile:
        compile_in_place(model)
    architect = Architect(model, cfg.order, cfg.arch_lr, tuple(cfg.arch_betas), cfg.arch_weight_decay,
                          ranks=ranks, autocast=Amp(device, cfg.amp).autocast, hvp=cfg.hvp)
    return model, weight_opt, scheduler, architect


def run(cfg: SearchConfig, resume: bool = False) -> SearchResult:
    """Search, or continue the search in cfg.out when `resume`; returns the final genotype and where it went.
    Under torchrun each rank runs this (distributed.py)."""
    start = time.time()
    with distributed.session(start_runtime(cfg.device, cfg.threads)) as (ranks, device):
        return _search(cfg, resume, ranks, device, start)


class SearchJob:
    """One search epoch (lifecycle.Job): an architecture step, then a weight step, on every batch of the weight half;
    validation on the architecture half; the genotype of the epoch, and how many of its edges changed."""

    def __init__(self, cfg: SearchConfig, run: Run, model: SearchNetwork, architect: Architect, weight_opt,
                 scheduler, splits, ranks: distributed.Ranks, device: torch.device, history: list,
                 costs: dict | None = None):
        self.cfg, self.run, self.model, self.architect, self.ranks = cfg, run, model, architect, ranks
        self.costs = costs  # the latency table as tensors: the supernet's expected ms is logged every epoch
        self.weight_opt, self.scheduler = weight_opt, scheduler
        weight_half, arch_half = splits
        # Both halves train (weights on one, alphas on the other); validation scores the alpha half.
        self.weight_batches = Batches(weight_half, cfg.batch_size, device, shuffle=True, seed=cfg.seed,
                                      augment=cfg.data.augment, ranks=ranks)
        self.arch_batches = Batches(arch_half, cfg.batch_size, device, shuffle=True, seed=cfg.seed + 1,
                                    augment=cfg.data.augment, ranks=ranks)
        self.val_batches = Batches(ranks.shard(arch_half), cfg.batch_size, device, shuffle=False, seed=cfg.seed)
        # The cell each epoch is compared with, to tell a search that has settled from one that is still moving.
        self.previous = Genotype.from_dict(history[-1]["genotype"]) if history else model.genotype()
        self.genotype = self.previous

    def train(self, epoch: int) -> dict:
        cfg = self.cfg
        self.weight_batches.set_epoch(epoch)
        self.arch_batches.set_epoch(epoch)
        lr = self.scheduler.get_last_lr()[0]
        # The robust-search schedules (docs/search.md): DARTS-'s skip decays to 0, beta-DARTS's lambda ramps up.
        self.model.set_aux_skip(cfg.aux_skip * (1 - epoch / cfg.epochs))
        self.architect.beta_decay = cfg.beta_decay * epoch / cfg.epochs
        warmup = epoch < cfg.warmup_epochs
        stats = search_epoch(self.model, self.architect, self.weight_opt, self.weight_batches, self.arch_batches,
                             eta=lr, epoch=epoch + 1, grad_clip=cfg.grad_clip,
                             desc=f"epoch {epoch + 1}/{cfg.epochs}" + (" (warm-up)" if warmup else ""),
                             progress=cfg.progress and self.ranks.is_main, arch_steps=not warmup)
        self.scheduler.step()
        if not all(torch.isfinite(a).all() for a in self.model.alphas()):
            raise Diverged(f"the architecture weights (alphas) became non-finite in epoch {epoch + 1}")
        return {**stats, "lr": lr}

    def end(self, epoch: int, stats: dict, scores, labels) -> tuple[dict, str]:
        self.genotype = self.model.genotype()
        self.ranks.agree(self.genotype.to_dict(), f"genotype after epoch {epoch + 1}")
        stats["normal_skips"] = self.genotype.normal_skips  # the collapse report
        if self.costs is not None:
            with torch.no_grad():
                alphas = {name: getattr(self.model, name) for name in self.costs}
                stats["expected_latency_ms"] = lut.expected(self.costs, alphas).item()
        stats["changed"], self.previous = self.genotype.changes_from(self.previous), self.genotype
        counts = ("epoch", "normal_skips", "changed")
        entry = {**{k: float(v) for k, v in stats.items() if k not in counts}, **{k: int(stats[k]) for k in counts},
                 "genotype": self.genotype.to_dict()}
        return entry, f" | normal-cell skips {stats['normal_skips']} | edges changed {stats['changed']}"

    def log(self, writer, stats: dict) -> None:
        log_epoch(writer, self.model, stats, self.genotype, self.architect)

    def save(self, epoch: int, history: list) -> None:
        self.run.save_checkpoint(SEARCH_CHECKPOINT, "search", {
            "epoch": epoch, "model_args": self.model.model_args, "weights": self.model.weight_state(),
            "alphas": self.model.arch_state(), "weight_optimizer": self.weight_opt.state_dict(),
            "arch_optimizer": self.architect.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "history": history})
        self.run.write(HISTORY, yaml.safe_dump(history, sort_keys=False, default_flow_style=None))


def _search(cfg: SearchConfig, resume: bool, ranks: distributed.Ranks, device: torch.device, start: float
            ) -> SearchResult:
    print(resolve_input(cfg))
    cfg.validate()
    if ranks.is_main:  # the only rank that exports
        check_writable(cfg.genotype_path())
    table = lut.load(cfg.latency_table, device.type, cfg.data.image_size, cfg.nodes) if cfg.latency_table else None
    # Bad data is refused before any folder is made; rank 0 builds the image cache that the others then read.
    splits = ranks.main_first(lambda: search_splits(cfg.data, cfg.seed))
    distributed.check_batches(ranks, min(len(half) for half in splits), cfg.batch_size, "weight- and arch-half")
    run = open_run(cfg, "search", resume, ranks)
    # Read before the run is marked running again: a damaged checkpoint leaves a finished run as it was.
    resumed = run.file(SEARCH_CHECKPOINT)
    state = load_checkpoint(resumed, ("search",)) if resume and resumed.is_file() else None
    with keeping(run, SEARCH_CHECKPOINT):
        start_run(run, cfg, splits, resume, ranks)
        torch.manual_seed(cfg.seed)
        model, weight_opt, scheduler, architect = build(cfg, device, ranks)
        costs = lut.tensors(table, device) if table is not None else None
        if cfg.latency_weight:
            alphas = {name: getattr(model, name) for name in costs}  # the live parameters: gradients flow
            architect.penalty = lambda: latency_penalty(cfg, costs, alphas)
        start_epoch, history = 0, []
        if state is not None:
            model.load_states(state["weights"], state["alphas"])
            weight_opt.load_state_dict(state["weight_optimizer"])
            architect.optimizer.load_state_dict(state["arch_optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            start_epoch, history = state["epoch"] + 1, state["history"]
            print(f"resuming {run} after epoch {start_epoch} of {cfg.epochs}")
        ranks.copy_from_main_(model)
        job = SearchJob(cfg, run, model, architect, weight_opt, scheduler, splits, ranks, device, history, costs)
        # Adam moves an alpha by about arch_lr per step at most, so this bounds how far any alpha can travel.
        reach = cfg.arch_lr * (cfg.epochs - cfg.warmup_epochs) * len(job.weight_batches)
        hint = (f"start a new search with a lower weight learning rate (--lr, now {cfg.lr:g}) or alpha learning rate "
                f"(--arch-lr, now {cfg.arch_lr:g})")
        run_epochs(job, run, ranks, device, cfg.seed, start_epoch, cfg.epochs, history, SEARCH_CHECKPOINT, hint)
        return _finish(cfg, run, model, history, time.time() - start, reach, device, table)


def latency_penalty(cfg: SearchConfig, costs: dict, alphas: dict) -> torch.Tensor:
    """The latency term of the architecture loss, ProxylessNAS's additive form: lambda x E[latency], or lambda x
    the expected ms above --latency-target (a hinge), so that a line's budget costs nothing until it is spent."""
    expected = lut.expected(costs, alphas)
    if cfg.latency_target is not None:
        expected = torch.relu(expected - cfg.latency_target)
    return cfg.latency_weight * expected


def derive_run(run_dir: Path, cfg, device: torch.device, progress: bool = True, seed: Optional[int] = None
               ) -> tuple[Genotype, Path]:
    """The perturbation genotype of the finished search in `run_dir`, run with `cfg` (its SearchConfig, whose
    Derivation settings apply), saved as genotype-perturbation.yaml and drawn into perturbation/."""
    start, start_cpu = time.time(), time.process_time()
    seed = cfg.seed if seed is None else seed
    state = load_checkpoint(run_dir / SEARCH_CHECKPOINT, ("search",))
    model = SearchNetwork(**state["model_args"]).to(device)
    model.load_states(state["weights"], state["alphas"])
    splits = search_splits(cfg.data, cfg.seed)
    check_splits(run_dir, splits, "the perturbation scores the search's own validation images: restore its data")
    weight_half, arch_half = splits
    chosen = np.random.default_rng(seed).permutation(len(arch_half))[:cfg.derive_images]
    images = list(Batches(arch_half.subset(np.sort(chosen), "derive"), cfg.batch_size, device, shuffle=False,
                          seed=seed))
    print(f"perturbation: {len(chosen)} validation images, {cfg.derive_tune_steps} weight steps after each decision",
          flush=True)
    genotype, decisions = perturbation(model, images, seed, tuner(model, cfg, weight_half, device, seed),
                                       cfg.derive_tune_steps, progress, name=f"search-{cfg.data.dataset}",
                                       meta={})
    argmax = Genotype.load(run_dir / GENOTYPE).meta if (run_dir / GENOTYPE).is_file() else {}
    genotype.meta.update({k: v for k, v in argmax.items() if k not in ("max_skips",)})
    genotype.meta.update(derive="perturbation", derive_seed=seed, derive_images=len(chosen),
                         derive_tune_steps=cfg.derive_tune_steps, derive_seconds=round(time.time() - start, 1),
                         derive_threads=torch.get_num_threads(),
                         derive_cpu_seconds=round(time.process_time() - start_cpu, 1))
    path = genotype.save(run_dir / DERIVED)
    render_genotype(genotype, run_dir / PERTURBATION_DIR)  # makes the folder
    write_atomic(run_dir / PERTURBATION_DIR / DECISIONS, yaml.safe_dump(decisions, sort_keys=False))
    return genotype, path


def tuner(model: SearchNetwork, cfg, weight_half, device: torch.device, seed: int):
    """`tune(n)`: n weight steps of the supernet on the weight half, as the search took them (its optimiser at its
    starting --lr, since a few steps at the final rate could not adapt to a lost op; gradient clipping)."""
    optimizer = weight_optimizer(cfg.optimizer, model.weights(), cfg.lr, cfg.momentum, cfg.weight_decay)
    stream = itertools.chain.from_iterable(
        Batches(weight_half, cfg.batch_size, device, shuffle=True, seed=seed + epoch, augment=cfg.data.augment)
        for epoch in itertools.count())

    def tune(steps: int) -> None:
        model.train()
        for _ in range(steps):
            x, y = next(stream)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.weights(), cfg.grad_clip)
            optimizer.step()
        for alpha in model.alphas():
            alpha.grad = None

    return tune


def check_writable(export: Path) -> None:
    """Refuse, before hours of search, a --genotype-out that could not be written at the end."""
    folder = next((p for p in [export.parent, *export.parent.parents] if p.exists()), Path("."))
    if export.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise UserError(f"the genotype could not be written to {export} at the end of the search (it is a folder, "
                        f"or {folder} is not a writable folder); pass a writable file path to --genotype-out")


PAPER_REACH = 3e-4 * 50 * 391  # DARTS on CIFAR-10: Adam at 3e-4, 50 epochs of 391 steps (25,000 images, batch 64)


def settle_note(history: list, reach: float) -> str | None:
    """A warning when the last epoch still changed the cell: another epoch, or another seed, would likely have
    exported another one."""
    changed = history[-1].get("changed", 0) if history else 0
    if not changed:
        return None
    edges = 2 * len(history[-1]["genotype"]["normal"])
    recent = ", ".join(str(h.get("changed", "?")) for h in history[-10:])
    return (f"note: the cell has not settled: {changed} of {edges} edges changed in the last epoch (the last "
            f"{min(len(history), 10)} epochs: {recent}), so another epoch or seed would likely "
            f"export another cell. Each alpha could move at most about --arch-lr x architecture steps = {reach:.2g} "
            f"in this search (the paper's: {PAPER_REACH:.1f}): search longer or with a larger --arch-lr, and compare "
            f"the cell with random ones ({COMMANDS['protocol']}).")


def export_genotype(genotype: Genotype, export: Path, kept: Path, run_dir: Path) -> Path:
    """Save the genotype to --genotype-out; a failure names where the run keeps it, and how to export it again."""
    try:
        return genotype.save(export)
    except WriteFailed as e:
        raise UserError(f"{e.problem}; the genotype is kept in {kept}, and {COMMANDS['search']} --resume {run_dir} "
                        f"--genotype-out FILE exports it without searching again") from None


def _finish(cfg: SearchConfig, run_dir: Run, model: SearchNetwork, history: list, seconds: float, reach: float,
            device: torch.device, table: dict | None) -> SearchResult:
    """Write the genotype, its export and the drawings, then print where everything went."""
    meta = {"dataset": cfg.data.dataset, "order": cfg.order, "epochs": len(history), "seed": cfg.seed,
            "run_dir": str(run_dir.path), "max_skips": cfg.max_skips}
    genotype = model.genotype(name=f"search-{cfg.data.dataset}", meta=meta, max_skips=cfg.max_skips)
    if table is not None:
        genotype.meta.update(latency_weight=cfg.latency_weight, latency_table=str(cfg.latency_table),
                             predicted_latency_ms=round(lut.predict(table, genotype), 4), latency_plan=table["plan"],
                             latency_device=table["device"])
    if not run_dir.writes:  # another rank than 0: rank 0 writes the results
        return SearchResult(run_dir.path, genotype, cfg.genotype_path(), model.arch_state(), history, seconds)
    genotype.save(run_dir.file(GENOTYPE))
    drawings, has_dot = render_genotype(genotype, run_dir.path)
    chosen, copy = genotype, run_dir.file(GENOTYPE)
    if cfg.derive == "perturbation":
        chosen, copy = derive_run(run_dir.path, cfg, device, cfg.progress)  # with the argmax cell's meta
        if table is not None:
            chosen.meta["predicted_latency_ms"] = round(lut.predict(table, chosen), 4)
            chosen.save(copy)
        drawings.append(run_dir.file(PERTURBATION_DIR))
    export = export_genotype(chosen, cfg.genotype_path(), copy, run_dir.path)
    run_dir.finish()
    print(f"\nsearch finished in {seconds:.1f} s ({len(history)} epochs, {cfg.order} order; "
          f"{memory_note(history, device)})")
    print(f"  genotype:      {export}  ({cfg.derive}; copy: {copy})")
    if table is not None:
        plan = table["plan"]
        print(f"  latency:       the table predicts {chosen.meta['predicted_latency_ms']:.3f} ms for its cells on "
              f"{table['device']} (final network: {plan['layers']} layers, C={plan['init_channels']}, "
              f"{plan['stem']} stem, {plan['image_size'][0]}x{plan['image_size'][1]}, batch 1)")
    print(f"  history:       {run_dir.file(HISTORY)}")
    print(f"  cell drawings: {', '.join(str(p) for p in drawings)}")
    print(f"  checkpoint:    {run_dir.file(SEARCH_CHECKPOINT)}  (continue with --resume {run_dir})")
    print(f"  config:        {run_dir.file(CONFIG)}")
    print(f"  tensorboard:   tensorboard --logdir {run_dir}")
    if not has_dot:
        print(INSTALL_HINT)
    note = settle_note(history, reach)
    if note:
        print(note)
    return SearchResult(run_dir.path, chosen, export, model.arch_state(), history, seconds)
