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

from .band import band_counts, decide
from .calibration import calibrated, ece
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
                 info: dict, title: str = "ROC", calibration: dict | None = None, band: dict | None = None
                 ) -> tuple[dict | None, list[Path]]:
    """Write metrics.json, predictions.csv and roc.png for the images with known labels (>= 0).

    Returns (metrics or None when no label is known, the files written). roc.png needs both classes present.
    `info` (where the images came from, the checkpoint, ...) is added to metrics.json as it is. A network's
    `calibration` (calibration.calibration_of) adds the defect_probability column and the ECE before and after it;
    scores that are no network's (an ensemble's) have none. The decision column is the review `band`'s, or pass /
    reject at the threshold.
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    known = labels >= 0
    if not known.any():
        return None, []
    labels, scores, ids = labels[known], scores[known], [i for i, k in zip(ids, known) if k]
    out_dir = Path(out_dir)
    metrics = labelled_metrics(labels, scores, threshold)
    decisions = decide(scores, threshold["value"], band)
    columns = {"id": ids, "label": labels.tolist(), "defect_score": [f"{s:.6f}" for s in scores]}
    if calibration is not None:
        probabilities = calibrated(scores, calibration)
        columns["defect_probability"] = [f"{p:.6f}" for p in probabilities]
        metrics["calibration"] = {**calibration, "ece_before": ece(labels, scores),
                                  "ece_after": ece(labels, probabilities)}
    columns["decision"] = decisions.tolist()
    if band is not None:
        metrics["review_band"] = {**band, **band_counts(labels, decisions)}
    metrics.update(info)
    files = [write_atomic(out_dir / METRICS, json.dumps(_finite(metrics), indent=2) + "\n"),
             write_csv(out_dir / PREDICTIONS, list(columns), zip(*columns.values()))]
    if len(np.unique(labels)) == 2:
        plot_roc(labels, scores, out_dir / ROC, title=title, threshold=threshold["value"])
        files.append(out_dir / ROC)
    return metrics, files
