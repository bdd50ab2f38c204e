"""What the tools that study a finished training run share (explain, features, ensemble): the run as they see it
(its config, its best network, the very train / val / test images it was trained and scored on), its penultimate
features, and where their results go."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Optional

import numpy as np
import torch
import tyro

from ..config import DEFAULT_IN_HELP, from_dict
from ..data import Batches, ImageSet, TrainSplits, check_splits, train_splits
from ..errors import UserError
from ..loops import defect_scores
from ..models import load_model, penultimate
from ..runs import BEST, COMMANDS, CONFIG, SPLITS, a_run, load_checkpoint, past_first_epoch, read_config, run_kind
from .train import TrainConfig


@dataclass
class StudyConfig:
    """The settings every tool that studies a trained run shares (explain, features)."""
    run_dir: Annotated[tyro.conf.Positional[Optional[str]], tyro.conf.arg(metavar="RUN_DIR", help_behavior_hint="")
                       ] = None
    """the run directory of a darts-nexp train run"""
    data_dir: Annotated[Optional[str], tyro.conf.arg(aliases=("--data.data-dir",))] = None
    """where the run's data is now, when it has moved"""
    cache_dir: Annotated[Optional[str], tyro.conf.arg(aliases=("--data.cache-dir",), help_behavior_hint="")] = None
    """decoded-image cache (default: the run's)"""
    batch_size: int = 64
    """images per batch"""
    seed: int = 0
    """seeds the random samples of images, t-SNE and the classifiers"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto (CUDA when present), cpu or cuda"""
    threads: Annotated[Optional[int], DEFAULT_IN_HELP] = None
    """CPU threads of torch (default: one per CPU this process may use)"""
    out: Annotated[Optional[str], DEFAULT_IN_HELP] = None
    """output folder (default: a folder named after the command inside the run directory); a folder that already
    holds this command's results is refused: pass another --out"""


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
    # splits.json too: the tools read the run's own train / val / test images, which no other file records.
    missing = [name for name in (BEST, CONFIG, SPLITS) if not (path / name).is_file()]
    if missing and past_first_epoch(path, "train"):
        raise UserError(f"{path} has lost {' and '.join(missing)} (deleted or moved?); restore it, or train a new "
                        f"run with {COMMANDS['train']}")
    if missing:
        raise UserError(f"{path} has no {missing[0]}: the run has not finished an epoch; train it further with "
                        f"{COMMANDS['train']} --resume {path}")
    return path


def open_trained(run_dir: str | Path | None, command: str, device: torch.device, data_dir: Optional[str] = None,
                 cache_dir: Optional[str] = None) -> TrainedRun:
    """Load the run's config, best network and splits. `data_dir` points at the data when it has moved, `cache_dir`
    at another image cache; data that is not what the run was trained on is refused."""
    if run_dir is None:
        raise UserError(f"no run given; pass the run directory of a {COMMANDS['train']} run: {command} RUN_DIR")
    path = check_trained(run_dir, command)
    cfg = from_dict(TrainConfig, read_config(path), where=str(path / CONFIG))
    if data_dir is not None:
        cfg.data.data_dir = data_dir
    if cache_dir is not None:
        cfg.data.cache_dir = cache_dir
    splits = train_splits(cfg.data, cfg.seed)
    check_splits(path, splits, "pass the data it was trained on with --data-dir")
    checkpoint = load_checkpoint(path / BEST, ("best",), hint=f"train it again with {COMMANDS['train']}")
    return TrainedRun(path, cfg, checkpoint, load_model(checkpoint).to(device), splits, device)


@torch.no_grad()
def features(model: torch.nn.Module, batches) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(penultimate features (N, D), defect scores, labels) of a model over (x, y) batches, in eval mode: what
    t-SNE and the classifiers on deep features read (models.penultimate says which features)."""
    was_training = model.training
    model.eval()
    feats, scores, labels = [], [], []
    for x, y in batches:
        f, logits = penultimate(model, x)
        feats.append(f.float().cpu().numpy())
        scores.append(defect_scores(logits))
        labels.append(y.cpu().numpy())
    model.train(was_training)
    return np.concatenate(feats), np.concatenate(scores), np.concatenate(labels)


def output_dir(cfg: StudyConfig, trained: TrainedRun, default: str, results: tuple[str, ...], command: str) -> Path:
    """The folder a study writes into: --out, else `default` inside the run. One that already holds any of
    `results` is refused, so that no finished result is overwritten."""
    out = Path(cfg.out) if cfg.out is not None else trained.path / default
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; pass a folder for the results of {command}")
    found = [name for name in results if (out / name).exists()]
    if found:
        raise UserError(f"{out} already holds {', '.join(found)} from an earlier {command}; pass another --out, or "
                        f"move those files away")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {out} ({e.strerror}); pass a writable --out") from None
    return out
