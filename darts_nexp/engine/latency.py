"""Measured latency of a trained network, from a run or an exported file: milliseconds per image and images per
second for eager PyTorch, ONNX Runtime on the CPU, and CUDA when there is one."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Optional

import numpy as np
import torch
import tyro

from ..config import DEFAULT_IN_HELP
from ..deploy.exported import kind_of, open_file, record, write
from ..deploy.latency import machine, median_seconds, model_latency, row
from ..deploy.scorer import Scorer
from ..errors import UserError
from ..models import load_model
from ..runs import load_checkpoint, trained_checkpoint
from ..runtime import start_runtime


@dataclass
class LatencyConfig:
    """Settings of `darts-nexp latency` (docs/deploy.md)."""
    target: Annotated[tyro.conf.Positional[Optional[str]], tyro.conf.arg(metavar="RUN_DIR|FILE",
                                                                        help_behavior_hint="")] = None
    """a training run directory, a checkpoint, or an exported .onnx or .torchscript file"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto: the CPU, and CUDA too when there is one; cpu; or cuda"""
    batch_sizes: list[int] = field(default_factory=lambda: [1, 32])
    """batch sizes to time"""
    threads: Annotated[Optional[int], DEFAULT_IN_HELP] = None
    """CPU threads of torch and ONNX Runtime (default: one per CPU this process may use)"""
    repeats: int = 10
    """timed calls per figure (fewer when they would take more than 5 s), after 3 untimed ones"""

    def validate(self) -> None:
        if not self.batch_sizes or min(self.batch_sizes) < 1 or self.repeats < 3:
            raise UserError(f"--batch-sizes must be 1 or more each and --repeats 3 or more (got {self.batch_sizes}, "
                            f"{self.repeats})")


def _file_rows(logits, shape, cfg: LatencyConfig, backend: str, device: torch.device) -> list[dict]:
    rows = []
    for batch in cfg.batch_sizes:
        pixels = np.random.default_rng(0).uniform(0, 255, (batch, *shape)).astype(np.float32)
        seconds = median_seconds(lambda: logits(pixels), device, repeats=cfg.repeats)
        rows.append(row(backend, device.type, batch, seconds))
    return rows


def run(cfg: LatencyConfig) -> dict:
    """Time the model on every backend that applies; print the table and the machine; return both."""
    if cfg.target is None:
        raise UserError("pass a training run directory or an exported model: darts-nexp latency RUN_DIR|FILE")
    device = start_runtime(cfg.device, cfg.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if device.type == "cuda" else [])
    if cfg.device == "cuda":
        devices = [device]
    path, rows = Path(cfg.target), []
    kind = kind_of(path)
    if kind is not None:
        for dev in devices if kind == "torchscript" else [torch.device("cpu")]:
            logits, meta = open_file(path, dev)
            rows += _file_rows(logits, tuple(meta["input"]["shape"][1:]), cfg,
                               "torchscript" if kind == "torchscript" else "onnxruntime", dev)
    else:
        checkpoint = load_checkpoint(trained_checkpoint(path), ("best", "last"))
        meta = record(checkpoint)
        shape = tuple(meta["input"]["shape"][1:])
        scorer = Scorer(load_model(checkpoint))
        for dev in devices:
            rows += model_latency(scorer.to(dev), shape, cfg.batch_sizes, dev, cfg.repeats)
        with tempfile.TemporaryDirectory() as tmp:
            onnx_file = write(scorer.cpu(), meta, Path(tmp) / "model.onnx", "onnx")
            logits, _ = open_file(onnx_file)
            rows += _file_rows(logits, shape, cfg, "onnxruntime", torch.device("cpu"))
    info = machine(device)
    print(f"latency of {path} ({meta['model']}, input {' x '.join(map(str, meta['input']['shape'][1:]))}):")
    print(f"  {'backend':12s} {'device':6s} {'batch':>5s} {'ms/image':>9s} {'images/s':>9s}")
    for r in rows:
        print(f"  {r['backend']:12s} {r['device']:6s} {r['batch']:5d} {r['ms_per_image']:9.3f} "
              f"{r['images_per_s']:9.1f}")
    print("  machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print("  each figure: the median of repeated timings after 3 untimed calls")
    return {"machine": info, "rows": rows}
