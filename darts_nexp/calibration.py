"""Calibrated defect probabilities: temperature scaling of the defect score (Guo, Pleiss, Sun and Weinberger, 2017,
"On Calibration of Modern Neural Networks"), fitted on the validation split, and the expected calibration error.

The network's defect score is a softmax of two logits, which a network trained to zero loss makes over-confident.
Temperature scaling divides the logit of the score, log(s / (1 - s)) = l_defect - l_good, by one number T fitted by
least negative log-likelihood: P = sigmoid(logit(s) / T), the softmax of the logits / T. It is monotone, so the
ranking (and AUC) of the scores is unchanged, and one parameter cannot overfit a small validation split as a
binning or isotonic fit can. docs/metrics.md says more.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit

BINS = 15  # of the ECE: equal-width bins of P(defect) over [0, 1], as Guo et al.
# A float64 softmax of logits more than ~37 apart is exactly 0 or 1, whose logit is infinite; clipped here, a
# score keeps a logit of at most +-34.5 and its order among the others.
EPS = 1e-15
UNCALIBRATED = {"method": "none", "temperature": 1.0}


def calibrated(scores: np.ndarray, temperature: float) -> np.ndarray:
    """P(defect) of defect scores under a temperature: sigmoid(logit(score) / T), float64."""
    return expit(logit(np.clip(np.asarray(scores, dtype=np.float64), EPS, 1 - EPS)) / temperature)


def ece(labels: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error of P(defect): over `bins` equal-width bins of the probability, the share of images
    in each bin times |its mean probability - its share of defects|, summed."""
    labels, probabilities = np.asarray(labels, dtype=np.float64), np.asarray(probabilities, dtype=np.float64)
    index = np.minimum((probabilities * bins).astype(int), bins - 1)  # P = 1 falls in the last bin
    gap = np.bincount(index, probabilities, bins) - np.bincount(index, labels, bins)  # per bin: sum P - defects
    return float(np.abs(gap).sum() / max(len(labels), 1))


def fit_temperature(labels: np.ndarray, scores: np.ndarray) -> float:
    """The T of least negative log-likelihood of the labels under sigmoid(logit(score) / T).

    The NLL is convex in 1/T, hence unimodal in log T, which a bounded Brent search over T in [0.01, 100] finds.
    """
    z = logit(np.clip(np.asarray(scores, dtype=np.float64), EPS, 1 - EPS))
    sign = np.where(np.asarray(labels) == 1, 1.0, -1.0)

    def nll(log_t: float) -> float:
        return float(np.logaddexp(0.0, -sign * z / np.exp(log_t)).mean())  # -log sigmoid(+-z / T)

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(1e-2), np.log(1e2)), method="bounded",
                                        options={"xatol": 1e-6}).x))


def fit_calibration(labels: np.ndarray, scores: np.ndarray) -> dict:
    """The calibration stored in best.pt: {"method", "temperature", "fitted_on", "ece_bins", "val_ece_before",
    "val_ece_after"}. A split of one class has nothing to tell a confident score from a right one: T stays 1."""
    labels = np.asarray(labels)
    one_class = len(np.unique(labels)) < 2
    temperature = 1.0 if one_class else fit_temperature(labels, scores)
    return {"method": "none (one class only)" if one_class else "temperature", "temperature": temperature,
            "fitted_on": "validation", "ece_bins": BINS, "val_ece_before": ece(labels, scores),
            "val_ece_after": ece(labels, calibrated(scores, temperature))}


def calibration_of(record: dict) -> dict:
    """The calibration of a checkpoint or an exported file's record; one written before calibration existed has
    none, and scores as uncalibrated (temperature 1)."""
    return record.get("calibration") or UNCALIBRATED


def describe_calibration(calibration: dict) -> str:
    """One line for a person: the temperature and the validation ECE it bought, or why there is none."""
    if calibration["method"] == "temperature":
        return (f"temperature {calibration['temperature']:.3f} fitted on the validation split (ECE "
                f"{calibration['val_ece_before']:.4f} -> {calibration['val_ece_after']:.4f})")
    if calibration["method"] == "none":
        return "none: this model predates calibration, so defect_probability is the raw defect score (temperature 1)"
    return f"{calibration['method']}: defect_probability is the raw defect score (temperature 1)"
