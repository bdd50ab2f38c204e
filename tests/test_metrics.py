"""Metrics against cases small enough to work out by hand, and AUC against scikit-learn."""
import json
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from darts_nexp.report import write_report
from darts_nexp.errors import UserError
from darts_nexp.metrics import (auc, check_threshold_options, choose_threshold, confusion_metrics, cost_threshold,
                                fpr_threshold, roc, tpr_at_fpr, youden_threshold)
from darts_nexp.plots import plot_roc

# Two good parts (0.1, 0.4) and two defects (0.35, 0.8). Of the 4 (defect, good) pairs, 3 rank the defect higher.
LABELS = np.array([0, 0, 1, 1])
SCORES = np.array([0.1, 0.4, 0.35, 0.8])


def test_auc_by_hand_and_against_sklearn():
    assert auc(LABELS, SCORES) == pytest.approx(0.75)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = rng.random(300) + 0.3 * labels
    pairs = (scores[labels == 1][:, None] > scores[labels == 0][None, :]).mean()  # Mann-Whitney, no ties here
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores)) == pytest.approx(pairs)
    fpr, tpr, _ = roc(labels, scores)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc(labels, scores))
    assert math.isnan(auc(np.zeros(5), rng.random(5)))


def test_roc_points_by_hand():
    fpr, tpr, thresholds = roc(LABELS, SCORES)
    # flag nothing, then >= 0.8, >= 0.4, >= 0.35, >= 0.1
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1]
    assert tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert thresholds[0] > 0.8 and np.isfinite(thresholds[0])
    assert thresholds[1:].tolist() == [0.8, 0.4, 0.35, 0.1]


def test_tpr_at_fpr_by_hand():
    assert tpr_at_fpr(LABELS, SCORES, 0.0) == 0.5  # only >= 0.8 rejects no good part
    assert tpr_at_fpr(LABELS, SCORES, 0.49) == 0.5
    assert tpr_at_fpr(LABELS, SCORES, 0.5) == 1.0  # >= 0.35 catches both defects and rejects one good of two
    assert math.isnan(tpr_at_fpr(np.ones(3), np.arange(3.0), 0.05))


def test_confusion_metrics_by_hand():
    m = confusion_metrics(LABELS, SCORES, 0.35)  # flags 0.4 (good), 0.35 and 0.8 (defects)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 1, 1, 0)
    assert m["accuracy"] == 0.75 and m["precision"] == pytest.approx(2 / 3) and m["recall"] == 1.0
    assert m["f1"] == pytest.approx(0.8) and m["fpr"] == 0.5
    nothing = confusion_metrics(LABELS, SCORES, 0.9)
    assert math.isnan(nothing["precision"]) and nothing["recall"] == 0 and nothing["accuracy"] == 0.5


def test_youden_threshold_by_hand():
    # J = TPR - FPR is 0.5 at >= 0.8 and at >= 0.35; ties go to the higher threshold (fewer rejections).
    assert youden_threshold(LABELS, SCORES) == 0.8
    assert choose_threshold(LABELS, SCORES) == {"value": 0.8, "method": "youden"}


def test_cost_threshold_by_hand():
    # cost = ratio * missed defects + rejected good parts
    # ratio 10: flag nothing 20, >= 0.8: 10, >= 0.4: 11, >= 0.35: 1, >= 0.1: 2  -> 0.35
    assert cost_threshold(LABELS, SCORES, 10) == 0.35
    # ratio 0.5 with the defect scored lowest: nothing 0.5, >= 0.9: 1.5, >= 0.2: 1 -> flag nothing
    t = cost_threshold(np.array([0, 1]), np.array([0.9, 0.2]), 0.5)
    assert t > 0.9 and confusion_metrics(np.array([0, 1]), np.array([0.9, 0.2]), t)["fp"] == 0
    assert choose_threshold(LABELS, SCORES, 10)["method"] == "cost_ratio=10"
    assert choose_threshold(np.zeros(3), np.arange(3.0))["value"] == 0.5  # one class: no ROC to choose on


def test_fpr_threshold_by_hand():
    assert fpr_threshold(LABELS, SCORES, 0.0) == 0.8  # the lowest threshold that rejects no good part
    assert fpr_threshold(LABELS, SCORES, 0.5) == 0.35  # one good part of two may be rejected
    assert choose_threshold(LABELS, SCORES, max_fpr=0.5) == {"value": 0.35, "method": "max_fpr=0.5"}
    for bad in [(1.0, 0.1), (-1.0, None), (None, 1.0)]:
        with pytest.raises(UserError):
            check_threshold_options(*bad)


def test_report_files(tmp_path):
    labels = np.array([0, 0, 1, 1, -1])  # the last image has no label: scored, not measured
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.5])
    threshold = {"value": 0.35, "method": "fixed"}
    metrics, files = write_report(tmp_path, list("abcde"), labels, scores, threshold, {"test_source": "hand"})
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["auc"] == 0.75 and saved["n_images"] == 4 and saved["f1"] == pytest.approx(0.8)
    assert saved["tpr_at_fpr_5pct"] == 0.5 and saved["test_source"] == "hand" and saved["threshold"] == threshold
    rows = (tmp_path / "predictions.csv").read_text().splitlines()
    assert rows[0] == "id,label,defect_score,decision"  # no defect_probability: these scores are no network's
    assert rows[1:] == ["a,0,0.100000,pass", "b,0,0.400000,reject", "c,1,0.350000,reject", "d,1,0.800000,reject"]
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG"
    assert {p.name for p in files} == {"metrics.json", "predictions.csv", "roc.png"}


def test_undefined_metrics_are_null_in_json(tmp_path):
    write_report(tmp_path, ["a", "b"], np.array([0, 0]), np.array([0.2, 0.3]), {"value": 0.5, "method": "x"}, {})
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["auc"] is None and saved["precision"] is None and saved["accuracy"] == 1.0
    assert not (tmp_path / "roc.png").exists()  # a single class has no ROC curve


def test_plot_roc_writes_png(tmp_path):
    plot_roc(LABELS, SCORES, tmp_path / "r.png", threshold=0.35)
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG" and not list(tmp_path.glob("*.tmp"))


def test_auc_interval_holds_the_auc_and_narrows_with_more_images():
    from darts_nexp.metrics import auc_interval

    rng = np.random.default_rng(0)

    def interval(n):
        labels = (np.arange(n) % 5 == 0).astype(int)  # a fifth defects, as in the synthetic set
        scores = rng.normal(labels, 1.0)
        return auc(labels, scores), auc_interval(labels, scores)

    (a, (low, high)), (_, (low_big, high_big)) = interval(100), interval(2000)
    assert low < a < high and high_big - low_big < (high - low) / 3  # the width goes as 1 / sqrt(n)
    assert auc_interval(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == (1.0, 1.0)
    assert all(math.isnan(v) for v in auc_interval(np.array([1, 1]), np.array([0.3, 0.4])))
