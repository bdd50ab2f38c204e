"""search.py: the DARTS architecture search (Liu et al., 2018) on Nexperia or synthetic images.

    python search.py --dataset synthetic [--config FILE] [--epochs N] [--order first|second] [--out RUN_DIR]
    python search.py --resume RUN_DIR

The run directory gets config.yaml, TensorBoard events, checkpoint.pt (every epoch), genotype.yaml,
genotype_history.yaml and the cell drawings; the genotype is also exported to genotypes/<dataset>.yaml.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import yaml
from tqdm import tqdm

from ..bilevel import Architect, search_epoch
from ..config import parse_run_config, save_config
from ..data import Batches, DataConfig, search_splits
from ..errors import UserError, cli_entry
from ..metrics import auc, predict
from ..render import INSTALL_HINT, render_genotype
from ..runs import (load_checkpoint, make_run_dir, pick_device, save_checkpoint, seed_epoch, tensorboard_writer,
                    write_atomic)
from ..space import STEMS, Genotype
from ..supernet import SearchNetwork
from .search_log import log_epoch

ORDERS = ("first", "second")


@dataclass
class SearchConfig:
    seed: int = field(default=0, metadata={"flag": "--seed", "help": "seeds the split, data order and model"})
    device: str = field(default="auto", metadata={"flag": "--device", "help": "auto, cpu or cuda"})
    epochs: int = field(default=50, metadata={"flag": "--epochs"})
    order: str = field(default="second", metadata={"flag": "--order", "help": "first or second (unrolled) order"})
    batch_size: int = 64
    init_channels: int = field(default=16, metadata={"help": "C: channels per node in the first cells"})
    layers: int = field(default=8, metadata={"help": "cells in the supernet"})
    nodes: int = field(default=4, metadata={"help": "intermediate nodes per cell"})
    stem: str = field(default="cifar", metadata={"help": "cifar (full resolution) or imagenet (down to 1/8)"})
    stem_multiplier: int = 3
    lr: float = field(default=0.025, metadata={"help": "weight SGD learning rate, cosine-annealed to lr_min"})
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = field(default=3e-4, metadata={"help": "Adam learning rate of the alphas"})
    arch_betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    arch_weight_decay: float = 1e-3
    progress: bool = field(default=True, metadata={"help": "show a progress bar per epoch"})
    out: Optional[str] = field(default=None, metadata={"flag": "--out", "help": "run directory (default runs/search-<time>)"})
    genotype_out: Optional[str] = field(default=None, metadata={
        "flag": "--genotype-out", "help": "genotype export (default genotypes/nexp.yaml or genotypes/<dataset>.yaml)"})
    data: DataConfig = field(default_factory=DataConfig)

    def validate(self) -> None:
        if self.order not in ORDERS:
            raise UserError(f"--order {self.order!r} is not valid; use first or second")
        if self.stem not in STEMS:
            raise UserError(f"stem {self.stem!r} is not valid; use one of {', '.join(STEMS)}")
        if self.epochs < 1 or self.batch_size < 2 or self.layers < 1 or self.nodes < 1 or self.init_channels < 2:
            raise UserError("epochs and layers and nodes must be >= 1, batch_size and init_channels >= 2")
        if self.stem == "imagenet" and self.init_channels % 2:
            raise UserError(f"the imagenet stem needs an even init_channels (got {self.init_channels})")
        if len(self.arch_betas) != 2:
            raise UserError(f"arch_betas must be two numbers (got {self.arch_betas})")

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


def build(cfg: SearchConfig, device: torch.device):
    """The supernet and its three optimisation objects, as a run starts them."""
    model = SearchNetwork(num_classes=2, in_chans=cfg.data.channels, init_channels=cfg.init_channels,
                          layers=cfg.layers, nodes=cfg.nodes, stem=cfg.stem,
                          stem_multiplier=cfg.stem_multiplier).to(device)
    weight_opt = torch.optim.SGD(model.weights(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(weight_opt, cfg.epochs, eta_min=cfg.lr_min)
    architect = Architect(model, cfg.order, cfg.arch_lr, tuple(cfg.arch_betas), cfg.arch_weight_decay)
    return model, weight_opt, scheduler, architect


def run(cfg: SearchConfig, resume: bool = False) -> SearchResult:
    """Search, or continue the search in cfg.out when `resume`; returns the final genotype and where it went."""
    start = time.time()
    device = pick_device(cfg.device)
    run_dir = make_run_dir(cfg.out, "search")
    cfg.out = str(run_dir)
    ckpt = run_dir / "checkpoint.pt"
    if not resume and ckpt.exists():
        raise UserError(f"{run_dir} already holds a search; continue it with --resume {run_dir}, or pass a new --out")
    save_config(cfg, run_dir / "config.yaml")
    torch.manual_seed(cfg.seed)
    weight_half, arch_half = search_splits(cfg.data, cfg.seed, run_dir)
    model, weight_opt, scheduler, architect = build(cfg, device)
    start_epoch, history = 0, []
    if resume:
        state = load_checkpoint(ckpt)
        model.load_states(state["weights"], state["alphas"])
        weight_opt.load_state_dict(state["weight_optimizer"])
        architect.optimizer.load_state_dict(state["arch_optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, history = state["epoch"] + 1, state["history"]
        print(f"resuming {run_dir} after epoch {start_epoch} of {cfg.epochs}")
    # Both halves train in the search (weights on one, alphas on the other); validation scores the alpha half.
    weight_batches = Batches(weight_half, cfg.batch_size, device, shuffle=True, seed=cfg.seed, augment=cfg.data.augment)
    arch_batches = Batches(arch_half, cfg.batch_size, device, shuffle=True, seed=cfg.seed + 1, augment=cfg.data.augment)
    val_batches = Batches(arch_half, cfg.batch_size, device, shuffle=False, seed=cfg.seed)
    writer = tensorboard_writer(run_dir)
    for epoch in range(start_epoch, cfg.epochs):
        seed_epoch(cfg.seed, epoch)
        weight_batches.set_epoch(epoch)
        arch_batches.set_epoch(epoch)
        lr = scheduler.get_last_lr()[0]
        stats = search_epoch(model, architect, weight_opt, weight_batches, arch_batches, eta=lr,
                             grad_clip=cfg.grad_clip, desc=f"epoch {epoch + 1}/{cfg.epochs}", progress=cfg.progress)
        scheduler.step()
        val_loss, scores, labels = predict(model, val_batches)
        stats.update(epoch=epoch + 1, lr=lr, val_loss=val_loss, val_auc=auc(labels, scores))
        genotype = model.genotype()
        history.append({**{k: float(v) for k, v in stats.items()}, "epoch": epoch + 1, "genotype": genotype.to_dict()})
        log_epoch(writer, model, stats, genotype, architect)
        save_checkpoint(ckpt, {"epoch": epoch, "model_args": model.model_args, "weights": model.weight_state(),
                               "alphas": model.arch_state(), "weight_optimizer": weight_opt.state_dict(),
                               "arch_optimizer": architect.optimizer.state_dict(),
                               "scheduler": scheduler.state_dict(), "history": history})
        write_atomic(run_dir / "genotype_history.yaml", yaml.safe_dump(history, sort_keys=False, default_flow_style=None))
        tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}: train loss {stats['train_loss']:.4f} auc {stats['train_auc']:.4f}"
                   f" | val loss {val_loss:.4f} auc {stats['val_auc']:.4f} | lr {lr:.5f}")
    writer.close()
    return _finish(cfg, run_dir, model, history, time.time() - start)


def _finish(cfg: SearchConfig, run_dir: Path, model: SearchNetwork, history: list, seconds: float) -> SearchResult:
    """Write the genotype, its export and the drawings, then print where everything went."""
    meta = {"dataset": cfg.data.dataset, "order": cfg.order, "epochs": len(history), "seed": cfg.seed,
            "run_dir": str(run_dir)}
    genotype = model.genotype(name=f"search-{cfg.data.dataset}", meta=meta)
    genotype.save(run_dir / "genotype.yaml")
    export = cfg.genotype_path()
    try:
        genotype.save(export)
    except OSError as e:
        raise UserError(f"cannot write the genotype to {export} ({e}); pass a writable path to --genotype-out")
    drawings, has_dot = render_genotype(genotype, run_dir)
    print(f"\nsearch finished in {seconds:.1f} s ({len(history)} epochs, {cfg.order} order)")
    print(f"  genotype:      {export}  (copy: {run_dir / 'genotype.yaml'})")
    print(f"  history:       {run_dir / 'genotype_history.yaml'}")
    print(f"  cell drawings: {', '.join(str(p) for p in drawings)}")
    print(f"  checkpoint:    {run_dir / 'checkpoint.pt'}  (continue with --resume {run_dir})")
    print(f"  config:        {run_dir / 'config.yaml'}")
    print(f"  tensorboard:   tensorboard --logdir {run_dir}")
    if not has_dot:
        print(INSTALL_HINT)
    return SearchResult(run_dir, genotype, export, model.arch_state(), history, seconds)


@cli_entry
def main(argv=None) -> SearchResult:
    cfg, ns = parse_run_config(SearchConfig, argv, __doc__.splitlines()[0], "search")
    return run(cfg, resume=bool(ns.resume))
