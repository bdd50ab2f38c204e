"""The outputs of scoring a set of images: metrics.json, roc.png, predictions.csv and submission.csv.

Training (on its test split) and evaluation (on any folder) write the same files, through `write_report` and
`write_submission`.
Every file is written to a temporary name and renamed, so a crash never leaves a half-written result.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .metrics import auc, confusion_metrics, tpr_at_fpr
from .plots import plot_roc
from .io import write_atomic, write_csv
from .runs import METRICS, PREDICTIONS, ROC


def _finite(value):
    """JSON has no NaN: undefined numbers (say a precision with nothing flagged) are written as null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def labelled_metrics(labels: np.ndarray, scores: np.ndarray, threshold: dict) -> dict:
    """Every number of metrics.json for images with known labels (0 good, 1 defect)."""
    m = confusion_metrics(labels, scores, threshold["value"])
    return {
        "auc": auc(labels, scores),
        "threshold": threshold,
        **{k: m[k] for k in ("accuracy", "precision", "recall", "f1")},
        "tpr_at_fpr_1pct": tpr_at_fpr(labels, scores, 0.01),
        "tpr_at_fpr_5pct": tpr_at_fpr(labels, scores, 0.05),
        "confusion": {k: m[k] for k in ("tp", "fp", "tn", "fn")},
        "n_images": int(len(labels)),
        "n_defect": int((labels == 1).sum()),
        "n_good": int((labels == 0).sum()),
    }


def write_submission(path: Path, ids: list[str], scores: np.ndarray) -> Path:
    """The contest's submission file: id,defect_score for every image."""
    return write_csv(Path(path), ["id", "defect_score"], [(i, f"{s:.6f}") for i, s in zip(ids, scores)])


def write_report(out_dir: Path, ids: list[str], labels: np.ndarray, scores: np.ndarray, threshold: dict,
                 info: dict, title: str = "ROC") -> tuple[dict | None, list[Path]]:
    """Write metrics.json, predictions.csv and roc.png for the images with known labels (>= 0).

    Returns (metrics or None when no label is known, the files written). roc.png needs both classes present.
    `info` (where the images came from, the checkpoint, ...) is added to metrics.json as it is.
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    known = labels >= 0
    if not known.any():
        return None, []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = {**labelled_metrics(labels[known], scores[known], threshold), **info}
    files = [write_atomic(out_dir / METRICS, json.dumps(_finite(metrics), indent=2) + "\n"),
             write_csv(out_dir / PREDICTIONS, ["id", "label", "defect_score"],
                       [(i, int(y), f"{s:.6f}") for i, y, s, k in zip(ids, labels, scores, known) if k])]
    if len(np.unique(labels[known])) == 2:
        plot_roc(labels[known], scores[known], out_dir / ROC, title=title, threshold=threshold["value"])
        files.append(out_dir / ROC)
    return metrics, files
