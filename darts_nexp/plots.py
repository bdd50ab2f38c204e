"""Figures a person would rather look at than read: the ROC curve with its operating point.

matplotlib draws off-screen (the Agg backend) and each figure is written atomically as a PNG.
"""
from __future__ import annotations

import io

import numpy as np

from .metrics import auc, confusion_metrics, roc
from .runs import write_atomic


def plot_roc(labels: np.ndarray, scores: np.ndarray, path, title: str = "ROC",
             threshold: float | None = None) -> None:
    """Save the ROC curve with its AUC in the legend (and the operating point of `threshold`) as an image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr, _ = roc(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, lw=2, label=f"AUC = {auc(labels, scores):.4f}")
    ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="chance")
    if threshold is not None:
        m = confusion_metrics(labels, scores, threshold)
        ax.plot([m["fpr"]], [m["recall"]], "o", color="C3", label=f"threshold {threshold:.3g}")
    ax.set(xlabel="false positive rate (good parts rejected)", ylabel="true positive rate (defects caught)",
           title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, dpi=120, format="png")
    plt.close(fig)
    write_atomic(path, png.getvalue())
