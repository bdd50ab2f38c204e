"""Scoring images outside a training run: `darts_nexp.load(path)` takes a run directory, a checkpoint or an exported
file and returns a Predictor.

    import darts_nexp
    model = darts_nexp.load("runs/train-20261206-101500")          # or "model.onnx"
    result = model.predict(["part-001.bmp", "part-002.bmp"])
    result.scores, result.decisions                                 # defect scores; pass / review / reject
    result.probabilities                                            # calibrated P(defect)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageOps

from ..band import decide
from ..calibration import calibrated, calibration_of
from ..data.cache import open_upright, prepare, to_gray8
from ..data.config import DataConfig
from ..errors import UserError
from ..loops import defect_scores
from ..models import load_model
from ..runs import load_checkpoint, trained_checkpoint
from .exported import kind_of, open_file, record
from .scorer import Scorer


@dataclass
class Prediction:
    scores: np.ndarray  # (N,) defect scores: the softmax of the logits, float64
    probabilities: np.ndarray  # (N,) the scores calibrated (Predictor.calibration), float64
    decisions: list[str]  # "pass", "review" or "reject": by the review band, or "pass" / "reject" at the threshold
    threshold: float


class Predictor:
    """Scores images with a trained network, whatever holds it: `logits` maps float32 pixels (B, C, H, W) in 0..255,
    sized as `meta["input"]` says, to logits (B, 2); `meta` is the record of exported.record."""

    def __init__(self, logits: Callable[[np.ndarray], np.ndarray], meta: dict, source: Path):
        self.logits, self.meta, self.source = logits, meta, source

    @property
    def threshold(self) -> dict:
        return self.meta["threshold"]

    @property
    def calibration(self) -> dict:
        return calibration_of(self.meta)

    def data_config(self, **folder) -> DataConfig:
        """The preprocessing the network was trained with; `folder` (data_dir, cache_dir, ...) says where images are."""
        spec = self.meta["input"]
        return DataConfig(image_size=list(spec["image_size"]), crop_border=spec["crop_border"],
                          resize=spec["resize"], channels=spec["channels"], **folder)

    def scores(self, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """P(defect), float64, of prepared images: (N, C, H, W) uint8 at the network's input size."""
        out = [defect_scores(torch.from_numpy(self.logits(np.ascontiguousarray(pixels[i: i + batch_size],
                                                                                dtype=np.float32))))
               for i in range(0, len(pixels), batch_size)]
        return np.concatenate(out) if out else np.zeros(0)

    def prepare(self, images) -> np.ndarray:
        """Image files, PIL images or arrays (one image (H, W) or (H, W, 3|4), or a stack (N, H, W)) -> (N, C, H, W)
        uint8, as training saw them: 8-bit gray (16-bit and float pixels scaled as files are), upright, sized."""
        if isinstance(images, (str, Path, Image.Image)):
            images = [images]
        elif isinstance(images, np.ndarray):
            if not (images.ndim == 2 or images.ndim == 3):
                raise UserError(f"an array of images must be (H, W), (H, W, 3) or (N, H, W); got {images.shape}")
            images = [images] if images.ndim == 2 or images.shape[-1] in (3, 4) else list(images)
        cfg, out = self.data_config(), []
        for item in images:
            if isinstance(item, (str, Path)):
                try:
                    gray = to_gray8(open_upright(Path(item).read_bytes()))
                except OSError as e:
                    raise UserError(f"cannot read image {item} ({getattr(e, 'strerror', None) or e})") from None
            elif isinstance(item, Image.Image):
                gray = to_gray8(ImageOps.exif_transpose(item))
            else:
                try:
                    gray = to_gray8(Image.fromarray(np.asarray(item)))
                except (TypeError, ValueError) as e:
                    raise UserError(f"an image array of {np.asarray(item).dtype} {np.asarray(item).shape} cannot "
                                    f"be read as an image ({e})") from None
            out.append(prepare(gray, cfg))
        stack = np.stack(out)[:, None] if out else np.zeros((0, 1, *cfg.image_size), np.uint8)
        return np.repeat(stack, cfg.channels, axis=1) if cfg.channels > 1 else stack

    def predict(self, images, batch_size: int = 64) -> Prediction:
        """Scores, calibrated probabilities and decisions of image files, PIL images or gray arrays (one, or a
        list)."""
        scores = self.scores(self.prepare(images), batch_size)
        value = float(self.threshold["value"])
        return Prediction(scores, calibrated(scores, self.calibration),
                          decide(scores, value, self.meta.get("review_band")).tolist(), value)


def from_checkpoint(checkpoint: dict, source: Path, device: torch.device = torch.device("cpu"),
                    model: torch.nn.Module | None = None) -> Predictor:
    """The Predictor of a training checkpoint (runs.load_checkpoint), its network on `device`; `model`, when given,
    is that network already built."""
    scorer = Scorer(model if model is not None else load_model(checkpoint)).to(device)

    @torch.no_grad()
    def logits(pixels: np.ndarray) -> np.ndarray:
        return scorer(torch.from_numpy(pixels).to(device))[0].cpu().numpy()

    return Predictor(logits, record(checkpoint), source)


def load(path: str | Path, device: str = "cpu") -> Predictor:
    """A Predictor of a training run directory (its best.pt), a checkpoint file, or an exported .onnx or
    .torchscript file."""
    path, device = Path(path), torch.device(device)
    if kind_of(path) is not None:
        return Predictor(*open_file(path, device), path)
    ckpt_path = trained_checkpoint(path)
    checkpoint = load_checkpoint(ckpt_path, ("best", "last"), hint="pass a training run, its best.pt, or an "
                                                                   "exported model")
    return from_checkpoint(checkpoint, ckpt_path, device)
