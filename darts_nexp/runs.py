"""Run directories, devices, seeding and checkpoints: what every command shares.

Exact resume rests on one rule: everything random in an epoch (data order, augmentation, dropout, drop path) is
drawn from generators reseeded from (seed, epoch) at the start of that epoch, and checkpoints are written at epoch
boundaries. A run resumed from the checkpoint of epoch k therefore replays epochs k+1.. exactly as an
uninterrupted run would.
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from .errors import UserError

DEVICES = ("auto", "cpu", "cuda")


def pick_device(name: str) -> torch.device:
    if name not in DEVICES:
        raise UserError(f"unknown device {name!r}; valid devices are {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but PyTorch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(name)


def seed_epoch(seed: int, epoch: int) -> int:
    """Seed Python, NumPy and torch for one epoch; returns the derived seed (also handy for a data generator)."""
    derived = (seed * 1_000_003 + epoch) % (2**31 - 1)
    random.seed(derived)
    np.random.seed(derived)
    torch.manual_seed(derived)
    return derived


def make_run_dir(out: str | None, command: str) -> Path:
    """The run directory: `out` when given, else runs/<command>-<timestamp>."""
    path = Path(out) if out else Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module under a torch.compile wrapper, so that state dicts never carry `_orig_mod.` prefixes."""
    return getattr(model, "_orig_mod", model)


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a crash while saving never destroys the previous checkpoint."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write a small file so that readers see the old or the new content, never half of it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found; pass a run directory that holds one, or start a new run")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: torch raises several unrelated types
        first = str(e).splitlines()[0][:100] if str(e) else ""
        raise UserError(f"checkpoint {path} cannot be read ({type(e).__name__}: {first}); it is not a darts-nexp "
                        f"checkpoint, or it is truncated: "
                        f"delete it and resume from an earlier run, or start a new run")


def tensorboard_writer(run_dir: Path):
    """A TensorBoard SummaryWriter writing into the run directory."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(run_dir))
