"""ROC AUC (the contest metric), the ROC curve and operating thresholds of defect scores, as plain maths on arrays.
AUC and the ROC curve come from scikit-learn.

See docs/metrics.md for what each number means and how to pick a threshold for a production line.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from .errors import UserError


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of defect scores (label 1 = defect); NaN when only one class is present."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return math.nan
    return float(roc_auc_score(labels, scores))


def auc_interval(labels: np.ndarray, scores: np.ndarray, level: float = 0.95, rounds: int = 1000,
                 seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of the AUC over the images: each round redraws, with replacement, as many
    defect images from the defects and as many good ones from the good, so that every round has both classes.
    (NaN, NaN) when only one class is present."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    defect, good = scores[labels == 1], scores[labels == 0]
    if not len(defect) or not len(good):
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    drawn = np.concatenate([rng.choice(defect, (rounds, len(defect))), rng.choice(good, (rounds, len(good)))], axis=1)
    # Mann-Whitney: AUC = (rank sum of the defects - n1 (n1 + 1) / 2) / (n1 n0), ties at their mean rank.
    ranks = rankdata(drawn, axis=1)[:, :len(defect)]  # (rounds, n1)
    aucs = (ranks.sum(axis=1) - len(defect) * (len(defect) + 1) / 2) / (len(defect) * len(good))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(aucs, [tail, 100 - tail])
    return float(low), float(high)


# --- Operating points: a model flags a part as defective when its defect score is >= a threshold. ---

def roc(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, from "flag nothing" to "flag everything".

    scikit-learn's first threshold is +inf (flag nothing); it is replaced by the next float above the highest
    score, which flags nothing as well and stays a finite number that JSON can hold.
    """
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    thresholds = thresholds.astype(np.float64)
    thresholds[0] = np.nextafter(float(np.max(scores)), np.inf)
    return fpr, tpr, thresholds


def precision_recall(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) at every distinct score, from scikit-learn, ending at recall 0 and precision 1."""
    precision, recall, _ = precision_recall_curve(labels, scores)
    return precision, recall


def youden_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The threshold that maximises Youden's J = TPR - FPR (the ROC point farthest above the diagonal)."""
    fpr, tpr, thresholds = roc(labels, scores)
    return float(thresholds[np.argmax(tpr - fpr)])


def cost_threshold(labels: np.ndarray, scores: np.ndarray, cost_ratio: float) -> float:
    """The threshold of least total cost on these images, where a missed defect costs `cost_ratio` times a
    rejected good part: cost = cost_ratio * missed defects + rejected good parts. Ties go to the higher threshold."""
    labels = np.asarray(labels)
    fpr, tpr, thresholds = roc(labels, scores)
    n_defect, n_good = int((labels == 1).sum()), int((labels == 0).sum())
    cost = cost_ratio * (1 - tpr) * n_defect + fpr * n_good
    return float(thresholds[np.argmin(cost)])


def fpr_threshold(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """The lowest threshold (most defects caught) that rejects at most `max_fpr` of the good parts."""
    fpr, _, thresholds = roc(labels, scores)
    return float(thresholds[fpr <= max_fpr + 1e-12][-1])


def check_threshold_options(cost_ratio: float | None, max_fpr: float | None) -> None:
    """Raise UserError unless at most one threshold option is set, and within its range."""
    if cost_ratio is not None and max_fpr is not None:
        raise UserError("pass either threshold_cost_ratio or threshold_max_fpr, not both")
    if cost_ratio is not None and cost_ratio <= 0:
        raise UserError(f"threshold_cost_ratio must be > 0 (got {cost_ratio})")
    if max_fpr is not None and not 0 <= max_fpr < 1:
        raise UserError(f"threshold_max_fpr must be in [0, 1) (got {max_fpr})")


def choose_threshold(labels: np.ndarray, scores: np.ndarray, cost_ratio: float | None = None,
                     max_fpr: float | None = None) -> dict:
    """{"value", "method"}: the least-cost threshold for a cost ratio, the threshold of a largest tolerated FPR, or
    by default Youden's J; 0.5 when the labels hold only one class, since no ROC point can then be told from another.
    """
    if len(np.unique(labels)) < 2:
        return {"value": 0.5, "method": "default (one class only)"}
    if cost_ratio is not None:
        return {"value": cost_threshold(labels, scores, cost_ratio), "method": f"cost_ratio={cost_ratio:g}"}
    if max_fpr is not None:
        return {"value": fpr_threshold(labels, scores, max_fpr), "method": f"max_fpr={max_fpr:g}"}
    return {"value": youden_threshold(labels, scores), "method": "youden"}


def confusion_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Counts and rates of the decision `score >= threshold` (defect = positive); a rate with no cases is NaN."""
    labels = np.asarray(labels)
    flagged = np.asarray(scores) >= threshold
    tp = int((flagged & (labels == 1)).sum())
    fp = int((flagged & (labels == 0)).sum())
    fn = int((~flagged & (labels == 1)).sum())
    tn = int((~flagged & (labels == 0)).sum())

    def ratio(a: int, b: int) -> float:
        return a / b if b else math.nan

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {"accuracy": ratio(tp + tn, len(labels)), "precision": precision, "recall": recall,
            "f1": ratio(2 * tp, 2 * tp + fp + fn), "fpr": ratio(fp, fp + tn),
            "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """The highest share of defects caught by any threshold that rejects at most `max_fpr` of the good parts."""
    if len(np.unique(labels)) < 2:
        return math.nan
    fpr, tpr, _ = roc(labels, scores)
    return float(tpr[fpr <= max_fpr + 1e-12].max())
