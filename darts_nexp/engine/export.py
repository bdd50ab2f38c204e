"""Export a trained network for the line: the eval-mode network with its input scaling in front (deploy.Scorer),
as ONNX or TorchScript with a dynamic batch axis and the record a scorer needs; then the file is run beside
PyTorch on the run's validation images and refused (deleted) when their scores differ."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Optional

import numpy as np
import torch
import tyro

from ..calibration import describe_calibration
from ..config import DEFAULT_IN_HELP
from ..deploy.exported import SUFFIXES, record, write
from ..deploy.predictor import Predictor, from_checkpoint, load
from ..deploy.scorer import Scorer
from ..errors import UserError
from ..io import WriteFailed
from ..runs import COMMANDS, run_info
from .study import check_trained, open_trained

TOLERANCE = 1e-4  # largest difference of the defect score between the file and PyTorch


@dataclass
class ExportConfig:
    """Settings of `darts-nexp export` (docs/deploy.md)."""
    run_dir: Annotated[tyro.conf.Positional[Optional[str]], tyro.conf.arg(metavar="RUN_DIR", help_behavior_hint="")
                       ] = None
    """the run directory of a finished darts-nexp train run"""
    format: Literal["onnx", "torchscript"] = "onnx"
    """onnx (for ONNX Runtime, OpenVINO, TensorRT, ...) or torchscript (for libtorch)"""
    out: Annotated[Optional[str], DEFAULT_IN_HELP] = None
    """the file to write (default RUN_DIR/model.onnx or RUN_DIR/model.torchscript); an existing file is refused"""
    data_dir: Annotated[Optional[str], tyro.conf.arg(aliases=("--data.data-dir",))] = None
    """where the run's data is now, when it has moved (the check scores its validation images)"""
    cache_dir: Annotated[Optional[str], tyro.conf.arg(aliases=("--data.cache-dir",), help_behavior_hint="")] = None
    """decoded-image cache (default: the run's)"""
    check_images: int = 256
    """validation images scored by both the file and PyTorch (all of them when there are fewer)"""
    batch_size: int = 32
    """images per batch in the check"""

    def validate(self) -> None:
        if self.check_images < 1 or self.batch_size < 1:
            raise UserError(f"--check-images and --batch-size must be >= 1 (got {self.check_images}, "
                            f"{self.batch_size})")


def largest_difference(a: Predictor, b: Predictor, pixels: np.ndarray, batch_size: int) -> float:
    return float(np.abs(a.scores(pixels, batch_size) - b.scores(pixels, batch_size)).max(initial=0.0))


def run(cfg: ExportConfig) -> Path:
    """Write the file, check it against PyTorch, and return its path."""
    command = COMMANDS["export"]
    if cfg.run_dir is not None and run_info(check_trained(cfg.run_dir, command)).get("status") != "finished":
        raise UserError(f"{cfg.run_dir} has not finished training; finish it with {COMMANDS['train']} --resume "
                        f"{cfg.run_dir}, then export it")
    trained = open_trained(cfg.run_dir, command, torch.device("cpu"), cfg.data_dir, cfg.cache_dir)
    out = Path(cfg.out) if cfg.out else trained.path / f"model{SUFFIXES[cfg.format]}"
    if out.suffix != SUFFIXES[cfg.format]:
        raise UserError(f"--out {out}: a {cfg.format} file must end in {SUFFIXES[cfg.format]}, so that darts-nexp "
                        f"knows it again; pass --out NAME{SUFFIXES[cfg.format]}")
    if out.exists():
        raise UserError(f"{out} already exists; pass another --out, or move it away")
    torch_scorer = from_checkpoint(trained.checkpoint, trained.path, model=trained.model)
    meta = record(trained.checkpoint)
    try:
        # The calibration goes into the file's defect_probability output, for a line that reads the file alone.
        write(Scorer(trained.model, meta["calibration"]), meta, out, cfg.format)
    except WriteFailed as e:
        raise e.or_else("pass another --out") from None
    val = trained.splits.val
    pixels = np.asarray(val.images[: cfg.check_images])
    try:
        difference = largest_difference(load(out), torch_scorer, pixels, cfg.batch_size)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    if not difference <= TOLERANCE:
        out.unlink(missing_ok=True)
        raise UserError(f"the {cfg.format} file scores {len(pixels)} validation images up to {difference:.3g} away "
                        f"from PyTorch (more than {TOLERANCE:g}), so it was deleted; this network does not export "
                        f"faithfully to {cfg.format}: try the other --format")
    threshold = meta["threshold"]
    print(f"exported {trained.checkpoint['model']['name']} to {out} ({cfg.format}, {out.stat().st_size / 1e3:,.0f} kB)")
    print(f"  checked on {len(pixels)} validation images: largest difference of the defect score from PyTorch "
          f"{difference:.2g} (at most {TOLERANCE:g})")
    print(f"  input: pixels (batch, {val.images.shape[1]}, {val.images.shape[2]}, {val.images.shape[3]}), 0..255; "
          f"threshold {threshold['value']:.4f} ({threshold['method']})")
    print(f"  calibration: {describe_calibration(meta['calibration'])}")
    print(f"  score images: {COMMANDS['evaluate']} {out} --data-dir FOLDER, or darts_nexp.load({str(out)!r})")
    return out
