"""Calibrated defect probabilities, fitted on the validation split, and the expected calibration error.

The network's defect score is a softmax of two logits; its logit, z = log(s / (1 - s)) = l_defect - l_good, is
mapped to P(defect) = sigmoid(z / T + b), both fitted by least negative log-likelihood on the validation split:
- "platt" (the default; Platt, 1999): T and b, fitted to Platt's targets (fit_platt). A network trained with label
  smoothing on 4 good images to 1 defect is not only too sure or too unsure (T) but off-centre (b): on the demo's
  run a temperature alone left a test ECE of 0.056, where the bias took it to 0.039 (docs/metrics.md);
- "temperature" (Guo, Pleiss, Sun and Weinberger, 2017): T alone, b = 0.
Both are the softmax of (l_good / T, l_defect / T + b), monotone in the score, so the ranking (and AUC) is
unchanged, and with one or two parameters they cannot overfit a small validation split as a binning or isotonic
fit can.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, logit

BINS = 15  # of the ECE: equal-width bins of P(defect) over [0, 1], as Guo et al.
# A float64 softmax of logits more than ~37 apart is exactly 0 or 1, whose logit is infinite; clipped here, a
# score keeps a logit of at most +-34.5 and its order among the others.
EPS = 1e-15
UNCALIBRATED = {"method": "none", "temperature": 1.0, "bias": 0.0}
METHODS = ("platt", "temperature")


def _logit(scores) -> np.ndarray:
    return logit(np.clip(np.asarray(scores, dtype=np.float64), EPS, 1 - EPS))


def calibrated(scores: np.ndarray, calibration: dict) -> np.ndarray:
    """P(defect) of defect scores under a calibration (fit_calibration, calibration_of): sigmoid(logit(score) / T
    + b), float64. A calibration from before the bias existed has b = 0."""
    return expit(_logit(scores) / calibration["temperature"] + calibration.get("bias", 0.0))


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
    z = _logit(scores)
    sign = np.where(np.asarray(labels) == 1, 1.0, -1.0)

    def nll(log_t: float) -> float:
        return float(np.logaddexp(0.0, -sign * z / np.exp(log_t)).mean())  # -log sigmoid(+-z / T)

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(1e-2), np.log(1e2)), method="bounded",
                                        options={"xatol": 1e-6}).x))


def fit_platt(labels: np.ndarray, scores: np.ndarray, targets: bool = True) -> tuple[float, float]:
    """(T, b) of least cross-entropy between sigmoid(logit(score) / T + b) and Platt's targets (with `targets`
    False: the labels themselves, which benchmarks/calibration_maps.py compares).

    A logistic regression on one feature, convex in (1 / T, b), fitted as Platt (1999) fitted it: not to the labels
    0 and 1 but to 1 / (N- + 2) for the good parts and (N+ + 1) / (N+ + 2) for the defects (N- and N+ their counts),
    the estimate of a rate seen N times with a uniform prior. On a large split they are 0 and 1; on a small one they
    keep two parameters from fitting its few defects exactly (measured on a 16-image split: docs/metrics.md), and a
    split the scores separate perfectly still has a finite best fit. The bounds are a guard only.
    """
    labels = np.asarray(labels)
    z = _logit(scores)
    defects = int((labels == 1).sum())
    target = (np.where(labels == 1, (defects + 1) / (defects + 2), 1 / (len(labels) - defects + 2)) if targets
              else labels.astype(np.float64))

    def loss_and_grad(p: np.ndarray) -> tuple[float, np.ndarray]:
        logits = p[0] * z + p[1]
        # -[t log q + (1 - t) log(1 - q)] with q = sigmoid(logits), written without overflow
        loss = np.logaddexp(0.0, logits) - target * logits
        error = expit(logits) - target
        return float(loss.mean()), np.array([(error * z).mean(), error.mean()])

    fit = minimize(loss_and_grad, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
                   bounds=[(1e-2, 1e2), (-50.0, 50.0)])
    return 1.0 / float(fit.x[0]), float(fit.x[1])


def fit_calibration(labels: np.ndarray, scores: np.ndarray, method: str = "platt") -> dict:
    """The calibration stored in best.pt: {"method", "temperature", "bias", "fitted_on", "ece_bins",
    "val_ece_before", "val_ece_after"}. A split of one class has nothing to tell a confident score from a right one:
    T stays 1 and b 0."""
    if method not in METHODS:
        raise ValueError(f"unknown calibration {method!r}; valid ones are {', '.join(METHODS)}")
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        method, temperature, bias = "none (one class only)", 1.0, 0.0
    elif method == "platt":
        temperature, bias = fit_platt(labels, scores)
    else:
        temperature, bias = fit_temperature(labels, scores), 0.0
    fitted = {"method": method, "temperature": temperature, "bias": bias, "fitted_on": "validation",
              "ece_bins": BINS, "val_ece_before": ece(labels, scores)}
    return {**fitted, "val_ece_after": ece(labels, calibrated(scores, fitted))}


def calibration_of(record: dict) -> dict:
    """The calibration of a checkpoint or an exported file's record; one written before calibration existed has
    none, and scores as uncalibrated (temperature 1)."""
    return record.get("calibration") or UNCALIBRATED


def describe_calibration(calibration: dict) -> str:
    """One line for a person: the map fitted and the validation ECE it bought, or why there is none."""
    if calibration["method"] in METHODS:
        return (f"{formula(calibration)}, {calibration['method']} fitted on the validation split (ECE "
                f"{calibration['val_ece_before']:.4f} -> {calibration['val_ece_after']:.4f})")
    if calibration["method"] == "none":
        return "none: this model predates calibration, so defect_probability is the raw defect score (temperature 1)"
    return f"{calibration['method']}: defect_probability is the raw defect score (temperature 1)"


def formula(calibration: dict) -> str:
    """The map of a calibration, as a person reads it: "P = sigmoid(logit(score) / 0.267 + 5.726)"."""
    bias = calibration.get("bias", 0.0)
    return (f"P = sigmoid(logit(score) / {calibration['temperature']:.3f}"
            + (f" {'+' if bias >= 0 else '-'} {abs(bias):.3f})" if bias else ")"))
