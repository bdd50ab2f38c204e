"""Scores and ROC AUC, the contest metric. AUC comes from scikit-learn."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of defect scores (label 1 = defect); NaN when only one class is present."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return math.nan
    return float(roc_auc_score(labels, scores))


@torch.no_grad()
def predict(model: torch.nn.Module, batches) -> tuple[float, np.ndarray, np.ndarray]:
    """(mean cross-entropy, defect scores, labels) of a model over an iterable of (x, y) batches, in eval mode.

    The defect score is the softmax probability of class 1. Batches with unknown labels (-1) still get scores;
    they are left out of the loss.
    """
    was_training = model.training
    model.eval()
    losses, scores, labels = [], [], []
    for x, y in batches:
        logits = model(x).float()  # (B, 2)
        known = y >= 0
        if known.any():
            losses.append(F.cross_entropy(logits[known], y[known], reduction="sum").item())
        scores.append(logits.softmax(dim=1)[:, 1].cpu().numpy())
        labels.append(y.cpu().numpy())
    model.train(was_training)
    scores = np.concatenate(scores) if scores else np.zeros(0, np.float32)
    labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    n_known = int((labels >= 0).sum())
    return (sum(losses) / n_known if n_known else math.nan), scores, labels
