"""Training losses for imbalanced classes: label-smoothed cross-entropy with optional class weights, or focal loss.

Focal loss (Lin et al., 2017) scales each image's cross-entropy by (1 - p_t)^gamma, p_t being the predicted
probability of its true class, so that the many easy good parts weigh less than the hard cases (Chen, Shi and Gao's
report "Nexperia Image classification" found it helps on Nexperia). Class weights "balanced" give each class the
weight N / (K * N_class), as in scikit-learn.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

LOSSES = ("ce", "focal")


def class_weights(labels: np.ndarray, num_classes: int, mode: str) -> torch.Tensor | None:
    """Per-class loss weights from the training labels; None for mode "none"."""
    if mode == "none":
        return None
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
    return torch.tensor(counts.sum() / (num_classes * np.maximum(counts, 1)), dtype=torch.float32)


class Criterion:
    """loss(logits (B, K), y (B,)) -> scalar: the mean over the batch, weighted by the class weights if any."""

    def __init__(self, kind: str = "ce", label_smoothing: float = 0.0, weight: torch.Tensor | None = None,
                 focal_gamma: float = 2.0):
        if kind not in LOSSES:
            raise ValueError(f"unknown loss {kind!r}; valid losses are {', '.join(LOSSES)}")
        self.kind, self.label_smoothing, self.weight, self.gamma = kind, label_smoothing, weight, focal_gamma

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        weight = None if self.weight is None else self.weight.to(logits.device)
        if self.kind == "ce":
            return F.cross_entropy(logits, y, weight=weight, label_smoothing=self.label_smoothing)
        ce = F.cross_entropy(logits, y, reduction="none", label_smoothing=self.label_smoothing)  # (B,)
        p_true = logits.softmax(dim=1).gather(1, y[:, None]).squeeze(1)
        loss = (1 - p_true).pow(self.gamma) * ce
        if weight is None:
            return loss.mean()
        w = weight[y]
        return (w * loss).sum() / w.sum()
