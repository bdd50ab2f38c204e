"""train_final.py: train the network of a genotype from scratch and measure its test AUC (Liu et al., 2018, sec. 3.3).

    python train_final.py --genotype FILE [--dataset synthetic|nexperia] [--data-dir DIR] [--config FILE]
                          [--epochs N] [--seed S] [--device auto|cpu|cuda] [--out RUN_DIR]
    python train_final.py --resume RUN_DIR
    python train_final.py --genotype FILE --summary [--style imagenet|cifar] [--layers N] [--init-channels C]
                          [--num-classes K] [--image-size S]

The run directory gets config.yaml, genotype.yaml, TensorBoard events, best.pt (by validation AUC) and last.pt,
and from the best checkpoint on the test split: metrics.json, roc.png, predictions.csv, and submission.csv when
the dataset has an unlabelled test folder. docs/training.md explains every option.
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import yaml
from tqdm import tqdm

from ..config import parse_run_config, save_config, to_dict
from ..data import Batches, DataConfig, train_splits
from ..errors import UserError, cli_entry
from ..final import FinalNetwork, create_final_network, multiply_adds, param_count
from ..final.loss import CLASS_WEIGHTS, LOSSES, Criterion, class_weights
from ..final.report import write_report, write_submission
from ..final.trainer import AMP_DTYPES, Amp, train_epoch
from ..metrics import auc, check_threshold_options, choose_threshold, predict
from ..runs import load_checkpoint, make_run_dir, pick_device, save_checkpoint, seed_epoch, tensorboard_writer
from ..space import STEMS, Genotype

SCHEDULES = ("exp", "cosine")


@dataclass
class TrainConfig:
    genotype: Optional[str] = field(default=None, metadata={"flag": "--genotype", "help": "genotype YAML file"})
    seed: int = field(default=0, metadata={"flag": "--seed", "help": "seeds the split, the weights and data order"})
    device: str = field(default="auto", metadata={"flag": "--device", "help": "auto, cpu or cuda"})
    epochs: int = field(default=50, metadata={"flag": "--epochs"})
    batch_size: int = 32
    lr: float = field(default=0.1, metadata={"help": "initial SGD learning rate"})
    momentum: float = 0.9
    weight_decay: float = 3e-5
    schedule: str = field(default="exp", metadata={"help": "exp (lr x lr_gamma every epoch) or cosine (to lr_min)"})
    lr_gamma: float = 0.97
    lr_min: float = 0.0
    label_smoothing: float = 0.1
    grad_clip: float = 5.0
    auxiliary_weight: float = field(default=0.4, metadata={"help": "weight of the auxiliary loss; 0: no aux head"})
    drop_path_rate: float = field(default=0.0, metadata={"help": "drop-path probability, ramped up from 0"})
    stem: str = field(default="imagenet", metadata={"flag": "--style", "help": "imagenet (to 1/8) or cifar"})
    layers: int = 14
    init_channels: int = field(default=48, metadata={"help": "C: channels per node in the first cells"})
    stem_multiplier: int = field(default=3, metadata={"help": "cifar stem width, in units of C"})
    num_classes: int = 2
    class_weights: str = field(default="none", metadata={"help": "none, or balanced (inverse class frequency)"})
    loss: str = field(default="ce", metadata={"help": "ce (cross-entropy) or focal"})
    focal_gamma: float = 2.0
    threshold_cost_ratio: Optional[float] = field(default=None, metadata={
        "help": "threshold of least cost: cost of a missed defect / cost of a rejected good part"})
    threshold_max_fpr: Optional[float] = field(default=None, metadata={
        "help": "threshold rejecting at most this share of good parts (neither option: Youden's J)"})
    amp: bool = field(default=True, metadata={"help": "mixed precision (CUDA only)"})
    amp_dtype: str = field(default="bf16", metadata={"help": "bf16, or fp16 (with loss scaling)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar per epoch"})
    out: Optional[str] = field(default=None, metadata={"flag": "--out", "help": "run directory (default runs/train-<time>)"})
    data: DataConfig = field(default_factory=DataConfig)

    def validate(self) -> None:
        choices = {"schedule": SCHEDULES, "stem": STEMS, "class_weights": CLASS_WEIGHTS, "loss": LOSSES,
                   "amp_dtype": tuple(AMP_DTYPES)}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise UserError(f"{name} {getattr(self, name)!r} is not valid; use one of {', '.join(valid)}")
        if self.epochs < 1 or self.batch_size < 2 or self.layers < 1 or self.num_classes < 2:
            raise UserError("epochs and layers must be >= 1, batch_size and num_classes >= 2")
        if self.init_channels < 2 or self.init_channels % 2:
            raise UserError(f"init_channels must be even and >= 2 (got {self.init_channels})")
        if not 0 <= self.drop_path_rate < 1:
            raise UserError(f"drop_path_rate must be in [0, 1) (got {self.drop_path_rate})")
        check_threshold_options(self.threshold_cost_ratio, self.threshold_max_fpr)


def load_genotype(cfg: TrainConfig) -> Genotype:
    if cfg.genotype is None:
        raise UserError("no genotype given; pass --genotype FILE (for example genotypes/darts_v2.yaml)")
    return Genotype.load(cfg.genotype)


def build_model(cfg: TrainConfig, genotype: Genotype) -> FinalNetwork:
    return FinalNetwork(genotype, num_classes=cfg.num_classes, in_chans=cfg.data.channels,
                        init_channels=cfg.init_channels, layers=cfg.layers, stem=cfg.stem,
                        stem_multiplier=cfg.stem_multiplier, auxiliary=cfg.auxiliary_weight > 0,
                        drop_path_rate=cfg.drop_path_rate)


def summary(cfg: TrainConfig, image_size: list[int]) -> dict:
    """Print the parameter count (without the auxiliary head) and the multiply-adds at image_size (H, W)."""
    genotype = load_genotype(cfg)
    model = build_model(cfg, genotype)
    params, macs = param_count(model), multiply_adds(model, tuple(image_size), cfg.data.channels)
    aux = sum(p.numel() for p in model.parameters()) - params
    print(f"{genotype.name or cfg.genotype}: {cfg.stem} style, {cfg.layers} layers, C={cfg.init_channels}, "
          f"{cfg.num_classes} classes, {cfg.data.channels} input channel(s)")
    print(f"  parameters:    {params / 1e6:.2f}M ({params:,} without the auxiliary head; the head adds {aux:,})")
    print(f"  multiply-adds: {macs / 1e6:.0f}M at {image_size[0]}x{image_size[1]} (convolutions and linear layers)")
    return {"params": params, "multiply_adds": macs}


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer):
    if cfg.schedule == "exp":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, cfg.lr_gamma)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.epochs, eta_min=cfg.lr_min)


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict
    history: list
    seconds: float


def run(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """Train (or continue the run in cfg.out when `resume`), then score the best checkpoint on the test split."""
    start = time.time()
    if cfg.num_classes != 2:
        raise UserError(f"training needs --num-classes 2 (good and defect), got {cfg.num_classes}; other counts "
                        f"are for --summary only")
    device = pick_device(cfg.device)
    run_dir = make_run_dir(cfg.out, "train")
    cfg.out = str(run_dir)
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if not resume and last_path.exists():
        raise UserError(f"{run_dir} already holds a training run; continue it with --resume {run_dir}, "
                        f"or pass a new --out")
    state = load_checkpoint(last_path) if resume else None
    if state is None:
        torch.manual_seed(cfg.seed)
        model = build_model(cfg, load_genotype(cfg))
    else:  # the architecture comes from the checkpoint, whatever the genotype file holds now
        model = create_final_network(state)
    genotype = model.genotype
    save_config(cfg, run_dir / "config.yaml")
    genotype.save(run_dir / "genotype.yaml")
    splits = train_splits(cfg.data, cfg.seed, run_dir)
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scheduler = make_scheduler(cfg, optimizer)
    amp = Amp(device, cfg.amp, cfg.amp_dtype)
    start_epoch, best_auc, history = 0, None, []
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # empty when the run so far had no fp16 loss scaling (CPU, or bf16)
            amp.scaler.load_state_dict(state["scaler"])
        start_epoch, best_auc, history = state["epoch"] + 1, state["best_auc"], state["history"]
        print(f"resuming {run_dir} after epoch {start_epoch} of {cfg.epochs}")

    criterion = Criterion(cfg.loss, cfg.label_smoothing, class_weights(splits.train.labels, 2, cfg.class_weights),
                          cfg.focal_gamma)
    # Batch statistics of a single leftover image are meaningless, so a last partial batch is dropped.
    train_batches = Batches(splits.train, cfg.batch_size, device, shuffle=True, seed=cfg.seed,
                            augment=cfg.data.augment, drop_last=len(splits.train) > cfg.batch_size)
    val_batches = Batches(splits.val, cfg.batch_size, device, shuffle=False, seed=cfg.seed)
    common = {"model_args": model.model_args, "genotype": yaml.safe_dump(genotype.to_dict(), sort_keys=False),
              "data": to_dict(cfg.data)}
    writer = tensorboard_writer(run_dir)
    for epoch in range(start_epoch, cfg.epochs):
        seed_epoch(cfg.seed, epoch)
        train_batches.set_epoch(epoch)
        model.drop_prob = cfg.drop_path_rate * epoch / cfg.epochs  # ramped from 0, as in the reference
        lr = scheduler.get_last_lr()[0]
        stats = train_epoch(model, train_batches, optimizer, criterion, cfg.auxiliary_weight, cfg.grad_clip, amp,
                            desc=f"epoch {epoch + 1}/{cfg.epochs}", progress=cfg.progress)
        scheduler.step()
        # Scored in fp32, like the test and evaluate, so that the threshold means the same everywhere.
        val_loss, val_scores, val_labels = predict(model, val_batches)
        val_auc = auc(val_labels, val_scores)
        stats.update(epoch=epoch + 1, lr=lr, val_loss=val_loss, val_auc=val_auc)
        history.append({k: float(v) for k, v in stats.items()})
        for key in ("train_loss", "train_main_loss", "train_auc", "val_loss", "val_auc", "lr"):
            writer.add_scalar(key.replace("_", "/", 1), stats[key], epoch + 1)
        score = -math.inf if math.isnan(val_auc) else val_auc
        improved = best_auc is None or score > best_auc
        if improved:
            best_auc = score
            threshold = {**choose_threshold(val_labels, val_scores, cfg.threshold_cost_ratio, cfg.threshold_max_fpr),
                         "chosen_on": "validation"}
            val = {"scores": torch.from_numpy(val_scores), "labels": torch.from_numpy(val_labels)}
            save_checkpoint(best_path, {**common, "model": model.state_dict(), "epoch": epoch, "val_auc": val_auc,
                                        "val": val, "threshold": threshold})
        save_checkpoint(last_path, {**common, "model": model.state_dict(), "epoch": epoch, "best_auc": best_auc,
                                    "history": history, "optimizer": optimizer.state_dict(),
                                    "scheduler": scheduler.state_dict(), "scaler": amp.scaler.state_dict()})
        tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}: train loss {stats['train_loss']:.4f} auc {stats['train_auc']:.4f}"
                   f" | val loss {val_loss:.4f} auc {val_auc:.4f} | lr {lr:.5f}{'  (best)' if improved else ''}")
    writer.close()
    return _finish(cfg, run_dir, splits, device, history, time.time() - start)


def _finish(cfg: TrainConfig, run_dir: Path, splits, device, history: list, seconds: float) -> TrainResult:
    """Score the test split (and the unlabelled folder) with the best checkpoint; print where everything went."""
    best = load_checkpoint(run_dir / "best.pt")
    model = create_final_network(best).to(device)

    def scores_of(images):
        return predict(model, Batches(images, cfg.batch_size, device, shuffle=False, seed=cfg.seed))[1]

    info = {"test_source": splits.test_source, "checkpoint": str(run_dir / "best.pt"), "best_epoch": best["epoch"] + 1,
            "val_auc": best["val_auc"]}
    metrics, files = write_report(run_dir, splits.test.ids, splits.test.labels, scores_of(splits.test),
                                  best["threshold"], info, title=f"test ROC ({len(splits.test)} images)")
    if splits.unlabelled is not None:
        files.append(write_submission(run_dir / "submission.csv", splits.unlabelled.ids, scores_of(splits.unlabelled)))
    t = best["threshold"]
    print(f"\ntraining finished in {seconds:.1f} s ({len(history)} epochs; best epoch {best['epoch'] + 1}, "
          f"val AUC {best['val_auc']:.4f})")
    print(f"  test AUC {metrics['auc']:.4f} on {metrics['n_images']} images ({splits.test_source})")
    print(f"  threshold {t['value']:.4f} ({t['method']} on the {t['chosen_on']} split): recall {metrics['recall']:.3f}"
          f", precision {metrics['precision']:.3f}, TPR at 1%/5% FPR {metrics['tpr_at_fpr_1pct']:.3f}/"
          f"{metrics['tpr_at_fpr_5pct']:.3f}")
    for path in files:
        print(f"  {path.name + ':':17s}{path}")
    print(f"  {'checkpoints:':17s}{run_dir / 'best.pt'} (scored), {run_dir / 'last.pt'} (continue with --resume {run_dir})")
    print(f"  {'config:':17s}{run_dir / 'config.yaml'}")
    print(f"  {'tensorboard:':17s}tensorboard --logdir {run_dir}")
    print(f"  score new images: python -m darts_nexp.evaluate {run_dir} --data-dir FOLDER")
    return TrainResult(run_dir, metrics, history, seconds)


def _extra_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--summary", action="store_true", help="print the parameter count and multiply-adds, then exit")
    parser.add_argument("--image-size", metavar="S", type=int, nargs="+",
                        help="input size for --summary: S or H W (default: data.image_size)")


@cli_entry
def main(argv=None):
    cfg, ns = parse_run_config(TrainConfig, argv, __doc__.splitlines()[0], "train", extra=_extra_flags)
    if ns.summary:
        size = ns.image_size or cfg.data.image_size
        if len(size) not in (1, 2) or min(size) < 8:
            raise UserError(f"--image-size takes S or H W, each >= 8 (got {size})")
        return summary(cfg, size * 2 if len(size) == 1 else size)
    return run(cfg, resume=bool(ns.resume))
