"""A trained network with its input scaling in front, as it is exported and timed."""
from __future__ import annotations

import torch
from torch import nn

from ..calibration import UNCALIBRATED
from ..data.batches import normalise


class Scorer(nn.Module):
    """pixels (B, C, H, W) float in 0..255, already sized and cropped as the run's data section says
    -> (logits (B, 2), P(defect) (B,)).

    The scaling is inside, so that an exported file needs only the image at the right size. P(defect) is the float32
    softmax of (l_good / T, l_defect / T + b), T and b the run's calibration (darts_nexp/calibration.py): that is
    sigmoid(logit(score) / T + b), for users of the file alone. darts-nexp reads the logits instead and ranks by
    their float64 softmax, since a confident float32 softmax rounds to exactly 1.0 and ties blur the ranking that
    AUC measures.
    """

    def __init__(self, model: nn.Module, calibration: dict | None = None):
        super().__init__()
        calibration = calibration or UNCALIBRATED
        self.model, self.temperature = model, float(calibration["temperature"])
        self.register_buffer("shift", torch.tensor([0.0, calibration.get("bias", 0.0)]), persistent=False)
        self.eval()  # the scorer and its network alike: a later train(mode) of the scorer must not flip them

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(normalise(pixels)).float()  # (B, 2)
        return logits, (logits / self.temperature + self.shift).softmax(dim=1)[:, 1]
