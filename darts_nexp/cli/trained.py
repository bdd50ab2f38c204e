"""A finished training run as the tools that study it (explain, features, ensemble) see it: its config, its best
network, and the very train / val / test images it was trained and scored on."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch
import tyro

from ..config import from_dict
from ..data import Batches, ImageSet, TrainSplits, check_splits, train_splits
from ..errors import UserError
from ..models import load_model
from ..runs import BEST, COMMANDS, CONFIG, a_run, load_checkpoint, past_first_epoch, read_config, run_kind
from .train import TrainConfig


@dataclass
class StudyConfig:
    """The settings every tool that studies a trained run shares (explain, features)."""
    run_dir: tyro.conf.Positional[Optional[str]] = None
    """the run directory of a train_final.py run"""
    data_dir: Optional[str] = None
    """where the run's data is now, when it has moved"""
    batch_size: int = 64
    """images per batch"""
    seed: int = 0
    """seeds the random samples of images, t-SNE and the classifiers"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto (CUDA when present), cpu or cuda"""
    threads: Optional[int] = None
    """CPU threads of torch (default: one per CPU this process may use)"""


@dataclass
class TrainedRun:
    path: Path
    cfg: TrainConfig
    checkpoint: dict  # best.pt
    model: torch.nn.Module  # the best network, on `device`, in eval mode
    splits: TrainSplits
    device: torch.device

    def batches(self, images, batch_size: int) -> Batches:
        return Batches(images, batch_size, self.device, shuffle=False, seed=self.cfg.seed)


def sample(images: ImageSet, n: int, seed: int) -> ImageSet:
    """At most n of the images, each class in its share (all of them when there are no more than n)."""
    if len(images) <= n:
        return images
    rng = np.random.default_rng(seed)
    labels = images.labels
    idx = [rng.choice(np.flatnonzero(labels == c), max(1, round(n * (labels == c).mean())), replace=False)
           for c in np.unique(labels)]
    return images.subset(np.concatenate(idx), images.name)


def check_trained(run_dir: str | Path, command: str) -> Path:
    """The folder of a training run with a best checkpoint; anything else is refused naming what `command` needs."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UserError(f"{path} is not a folder; {command} takes the run directory of a {COMMANDS['train']} run")
    kind = run_kind(path)
    if kind != "train":
        what = f"holds {a_run(kind)}" if kind else "holds no darts-nexp run"
        raise UserError(f"{path} {what}; {command} takes the run directory of a {COMMANDS['train']} run")
    missing = [name for name in (BEST, CONFIG) if not (path / name).is_file()]
    if missing and past_first_epoch(path, "train"):
        raise UserError(f"{path} has lost {' and '.join(missing)} (deleted or moved?); restore it, or train a new "
                        f"run with {COMMANDS['train']}")
    if missing:
        raise UserError(f"{path} has no {missing[0]}: the run has not finished an epoch; train it further with "
                        f"{COMMANDS['train']} --resume {path}")
    return path


def open_trained(run_dir: str | Path | None, command: str, device: torch.device, data_dir: Optional[str] = None
                 ) -> TrainedRun:
    """Load the run's config, best network and splits. `data_dir` points at the data when it has moved; data that
    is not what the run was trained on is refused."""
    if run_dir is None:
        raise UserError(f"no run given; pass the run directory of a {COMMANDS['train']} run: {command} RUN_DIR")
    path = check_trained(run_dir, command)
    cfg = from_dict(TrainConfig, read_config(path), where=str(path / CONFIG))
    if data_dir is not None:
        cfg.data.data_dir = data_dir
    splits = train_splits(cfg.data, cfg.seed)
    check_splits(path, splits, "pass the data it was trained on with --data-dir")
    checkpoint = load_checkpoint(path / BEST, ("best",), hint=f"train it again with {COMMANDS['train']}")
    return TrainedRun(path, cfg, checkpoint, load_model(checkpoint).to(device), splits, device)
