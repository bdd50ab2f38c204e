"""How well each map from defect score to probability calibrates finished training runs (docs/metrics.md).

For each run: the maps are fitted on its validation scores (best.pt) and scored on its test images
(predictions.csv): none (the raw score), temperature, Platt fitted to the labels, and Platt fitted to Platt's
targets (darts-nexp's default). Prints ECE on validation and test and the test NLL, then the means over the runs.

    python benchmarks/calibration_maps.py RUN_DIR [RUN_DIR ...]
"""
from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

import numpy as np
import torch

from darts_nexp.calibration import calibrated, ece, fit_platt, fit_temperature

MAPS = ("none", "temperature", "platt, to the labels", "platt")


def maps(labels: np.ndarray, scores: np.ndarray) -> dict[str, dict]:
    """Each map as a calibration record that calibration.calibrated applies."""
    fitted = {"none": (1.0, 0.0), "temperature": (fit_temperature(labels, scores), 0.0),
              "platt, to the labels": fit_platt(labels, scores, targets=False), "platt": fit_platt(labels, scores)}
    return {name: {"temperature": t, "bias": b} for name, (t, b) in fitted.items()}


def nll(labels: np.ndarray, probabilities: np.ndarray) -> float:
    right = np.where(labels == 1, probabilities, 1 - probabilities)
    return float(-np.log(np.clip(right, 1e-12, 1)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    print("| run | validation images (defects) | map | T | b | ECE, validation | ECE, test | NLL, test |")
    print("|---|---|---|---|---|---|---|---|")
    totals = {name: [] for name in MAPS}
    for run in args.runs:
        val = torch.load(run / "best.pt", map_location="cpu", weights_only=True)["val"]
        val_labels, val_scores = val["labels"].numpy(), val["scores"].numpy()
        with open(run / "predictions.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        labels = np.array([int(r["label"]) for r in rows])
        scores = np.array([float(r["defect_score"]) for r in rows])
        for name, record in maps(val_labels, val_scores).items():
            test = calibrated(scores, record)
            figures = (ece(val_labels, calibrated(val_scores, record)), ece(labels, test), nll(labels, test))
            totals[name].append(figures)
            print(f"| {run.name} | {len(val_labels)} ({int(val_labels.sum())}) | {name} | {record['temperature']:.3f} "
                  f"| {record['bias']:+.3f} | " + " | ".join(f"{x:.4f}" for x in figures) + " |")
    for name, figures in totals.items():
        print(f"| mean of {len(args.runs)} | | {name} | | | "
              + " | ".join(f"{statistics.fmean(column):.4f}" for column in zip(*figures)) + " |")


if __name__ == "__main__":
    main()
