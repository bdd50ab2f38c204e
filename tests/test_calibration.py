"""Calibrated probabilities and the review band: Platt and temperature scaling and ECE on synthetic scores, the
band's choice on validation, and one tiny training whose calibration evaluate, the predictor and an ONNX export
apply alike."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import expit

import darts_nexp
from darts_nexp.band import band_counts, choose_band, decide
from darts_nexp.calibration import calibrated, describe_calibration, ece, fit_calibration, fit_platt, fit_temperature
from darts_nexp.cli.export import main as export
from darts_nexp.cli.train import main as train
from darts_nexp.errors import UserError
from darts_nexp.evaluate import main as evaluate
from darts_nexp.metrics import auc
from test_data_util import fails, make_layout

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--config", str(ROOT / "configs" / "smoke.yaml"), "--epochs", "1", "--progress", "false",
        "--data.image-size", "16", "16", "--genotype", str(ROOT / "genotypes" / "darts_v1.yaml"), "--layers", "2"]
BAND = ["--max-miss-rate", "0.05", "--max-review", "0.3"]


def overconfident(n: int = 2000, sharpen: float = 4.0, seed: int = 0, shift: float = 0.0):
    """Labels drawn from sigmoid(z), and scores sigmoid(sharpen * z - shift): right in order, too sure of
    themselves, and with a shift off-centre."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, n)
    return (rng.random(n) < expit(z)).astype(np.int64), expit(sharpen * z - shift)


def test_temperature_scaling_lowers_the_ece_and_keeps_the_auc():
    labels, scores = overconfident()
    temperature = fit_temperature(labels, scores)
    probabilities = calibrated(scores, {"temperature": temperature})
    assert 3 < temperature < 5  # the scores were sharpened 4 times
    assert ece(labels, probabilities) < ece(labels, scores) / 3
    assert auc(labels, probabilities) == auc(labels, scores)
    fitted = fit_calibration(labels, scores, "temperature")
    assert fitted["method"] == "temperature" and fitted["temperature"] == pytest.approx(temperature)
    assert fitted["bias"] == 0 and fitted["val_ece_after"] < fitted["val_ece_before"] and fitted["ece_bins"] == 15


def test_platt_scaling_finds_the_temperature_and_the_shift_where_a_temperature_alone_cannot():
    labels, scores = overconfident(n=20000, shift=3.0)  # the truth: P = sigmoid(logit(score) / 4 + 0.75)
    temperature, bias = fit_platt(labels, scores)
    assert temperature == pytest.approx(4, rel=0.1) and bias == pytest.approx(0.75, abs=0.1)
    platt, alone = fit_calibration(labels, scores), fit_calibration(labels, scores, "temperature")
    assert platt["method"] == "platt" and (platt["temperature"], platt["bias"]) == (temperature, bias)
    assert platt["val_ece_after"] < alone["val_ece_after"] / 2 < alone["val_ece_before"]
    assert auc(labels, calibrated(scores, platt)) == auc(labels, scores)
    assert f"/ {temperature:.3f} + {bias:.3f})" in describe_calibration(platt)
    with pytest.raises(ValueError, match="platt, temperature"):
        fit_calibration(labels, scores, "isotonic")


def test_on_scores_that_separate_the_classes_platt_lands_on_its_targets():
    """Two scores, one per class: the best map sends them exactly to Platt's targets, 1 / (N- + 2) and
    (N+ + 1) / (N+ + 2), where a fit to the labels 0 and 1 would run off to infinity."""
    labels = np.array([0] * 50 + [1] * 10)
    fitted = fit_calibration(labels, np.r_[np.full(50, 0.2), np.full(10, 0.8)])
    low, high = calibrated(np.array([0.2, 0.8]), fitted)
    assert low == pytest.approx(1 / 52, rel=1e-3) and high == pytest.approx(11 / 12, rel=1e-3)


def test_ece_by_hand_and_a_split_of_one_class():
    # bin 1 holds 0.1, 0.1 against one defect in two; bin 13 holds 0.9, 0.9 against two: (2 * 0.4 + 2 * 0.1) / 4
    assert ece(np.array([0, 1, 1, 1]), np.array([0.1, 0.1, 0.9, 0.9])) == pytest.approx(0.25)
    assert ece(np.array([1, 0]), np.array([1.0, 0.0])) == 0  # 1.0 falls in the last bin
    fitted = fit_calibration(np.zeros(5, np.int64), np.linspace(0.1, 0.9, 5))
    assert fitted["temperature"] == 1.0 and fitted["method"] == "none (one class only)"


def test_the_band_meets_both_targets_when_it_can():
    labels, scores = overconfident(seed=1)
    band = choose_band(labels, scores, 0.5, max_miss_rate=0.05, max_review=0.3)
    assert band["gives_way"] is None and band["note"] is None
    assert band["lower"] <= 0.5 <= band["upper"]
    counts = band_counts(labels, decide(scores, 0.5, band))
    assert counts["miss_rate"] == band["validation"]["miss_rate"] <= 0.05
    assert counts["review"]["share"] == band["validation"]["review_share"] <= 0.3
    assert counts["pass"]["defects"] == int(((scores < band["lower"]) & (labels == 1)).sum())


def test_when_the_targets_conflict_the_note_names_the_miss_rate_and_by_how_much():
    labels, scores = overconfident(seed=2)
    band = choose_band(labels, scores, 0.5, max_miss_rate=0.005, max_review=0.1)
    assert band["gives_way"] == "max_miss_rate" and band["upper"] == 0.5
    assert band["validation"]["review_share"] <= 0.1 and band["validation"]["miss_rate"] > 0.005
    assert "the miss rate gives way" in band["note"] and "over the budget of 10.0%" in band["note"]
    assert f"misses {band['validation']['miss_rate']:.2%}" in band["note"]


def test_a_band_needs_defects_on_validation():
    with pytest.raises(UserError, match="holds no defect"):
        choose_band(np.zeros(10, np.int64), np.linspace(0, 1, 10), 0.5, 0.01, 0.1)


def test_without_a_band_the_decision_is_pass_or_reject_at_the_threshold():
    assert decide(np.array([0.1, 0.5, 0.9]), 0.5, None).tolist() == ["pass", "reject", "reject"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch tiny training with a review band on the synthetic set (its test folder has labels), and its ONNX
    export."""
    base = tmp_path_factory.mktemp("calibration")
    data, run = base / "data", base / "run"
    train([*TINY, "--data-dir", str(data), "--out", str(run), *BAND])
    export([str(run), "--format", "onnx"])
    return data, run


def predictions(folder: Path) -> dict[str, dict]:
    with open(folder / "predictions.csv", newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def test_training_stores_the_calibration_and_the_band_and_writes_them_out(trained):
    _, run = trained
    best = torch.load(run / "best.pt", weights_only=True)
    calibration, band = best["calibration"], best["review_band"]
    assert calibration["method"] == "platt" and calibration["temperature"] > 0 and calibration["bias"] != 0
    assert {"val_ece_before", "val_ece_after"} <= set(calibration)
    assert band["max_miss_rate"] == 0.05 and band["max_review"] == 0.3 and band["chosen_on"] == "validation"
    assert band["lower"] <= best["threshold"]["value"] <= band["upper"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["calibration"]["temperature"] == calibration["temperature"]
    assert {"ece_before", "ece_after"} <= set(metrics["calibration"])
    shares = [metrics["review_band"][d]["share"] for d in ("pass", "review", "reject")]
    assert sum(shares) == pytest.approx(1)
    assert sum(metrics["review_band"][d]["defects"] for d in ("pass", "review", "reject")) == metrics["n_defect"]
    header = (run / "predictions.csv").read_text().splitlines()[0]
    assert header == "id,label,defect_score,defect_probability,decision"
    for row in predictions(run).values():
        score = float(row["defect_score"])
        # Both columns are written to 6 decimals; a steep map spreads the score's rounding, so the probability lies
        # between the map's values at the ends of the score's rounding interval.
        low, high = calibrated(np.array([score - 5e-7, score + 5e-7]), calibration)
        assert low - 5e-7 <= float(row["defect_probability"]) <= high + 5e-7
        assert row["decision"] == ("pass" if score < band["lower"] else "reject" if score >= band["upper"]
                                   else "review")


def test_evaluate_the_predictor_and_an_onnx_file_apply_the_same_calibration(trained, tmp_path):
    import onnxruntime

    data, run = trained
    folder = ["--data-dir", str(data / "test"), "--labels-csv", str(data / "test_labels.csv")]
    evaluate([str(run), *folder, "--out", str(tmp_path / "torch")])
    evaluate([str(run / "model.onnx"), *folder, "--out", str(tmp_path / "file")])
    assert (tmp_path / "torch" / "predictions.csv").read_text() == (run / "predictions.csv").read_text()
    from_run, from_file = predictions(tmp_path / "torch"), predictions(tmp_path / "file")
    assert [r["decision"] for r in from_run.values()] == [r["decision"] for r in from_file.values()]
    assert max(abs(float(from_run[k]["defect_probability"]) - float(from_file[k]["defect_probability"]))
               for k in from_run) <= 1e-4
    files = sorted((data / "test").rglob("*.bmp"))[:6]
    predictor = darts_nexp.load(run)
    result = predictor.predict(files)
    expected = np.array([float(from_run[f.stem]["defect_probability"]) for f in files])
    assert result.decisions == [from_run[f.stem]["decision"] for f in files]  # the band too, where there is one
    assert np.abs(result.probabilities - expected).max() <= 1e-6
    assert np.abs(darts_nexp.load(run / "model.onnx").predict(files).probabilities - expected).max() <= 1e-4
    # The file's own output, for a line that reads it without darts-nexp: the map is in the graph.
    session = onnxruntime.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    pixels = predictor.prepare(files).astype(np.float32)
    assert np.abs(session.run(["defect_probability"], {"pixels": pixels})[0] - expected).max() <= 1e-4


def test_an_old_checkpoint_scores_as_uncalibrated_and_says_so_once(trained, tmp_path, capsys):
    data, run = trained
    old = torch.load(run / "best.pt", weights_only=True)
    del old["calibration"], old["review_band"]
    torch.save(old, tmp_path / "best.pt")
    evaluate([str(tmp_path / "best.pt"), "--data-dir", str(data / "test"), "--labels-csv",
              str(data / "test_labels.csv"), "--out", str(tmp_path / "o")])
    assert capsys.readouterr().out.count("predates calibration") == 1
    rows = predictions(tmp_path / "o").values()
    assert all(r["defect_probability"] == r["defect_score"] for r in rows)
    assert {r["decision"] for r in rows} <= {"pass", "reject"}
    assert darts_nexp.load(tmp_path / "best.pt").calibration["temperature"] == 1.0


def test_evaluate_chooses_a_new_band_on_the_run_s_validation_scores(trained, tmp_path, capsys):
    data, run = trained
    result = evaluate([str(run), "--data-dir", str(data / "test"), "--labels-csv", str(data / "test_labels.csv"),
                       "--max-miss-rate", "0.2", "--max-review", "0.5", "--out", str(tmp_path / "o")])
    band = result["metrics"]["review_band"]
    assert (band["max_miss_rate"], band["max_review"]) == (0.2, 0.5) and band["validation"]["review_share"] <= 0.5
    assert "review band: pass below" in capsys.readouterr().out
    fails(capsys, evaluate, [run / "model.onnx", "--data-dir", data / "test", *BAND],
          "an exported model holds no validation scores to choose a review band on")


@pytest.mark.parametrize("argv,message", [
    (["--max-miss-rate", "0", "--max-review", "0.1"], "--max-miss-rate is a share of parts in (0, 1)"),
    (["--max-miss-rate", "0.01", "--max-review", "1.5"], "--max-review is a share of parts in (0, 1)"),
    (["--max-miss-rate", "0.01"], "needs both targets"),
])
def test_bad_targets_are_one_error_line(tmp_path, capsys, argv, message):
    fails(capsys, train, [*TINY, "--data-dir", tmp_path / "data", "--out", tmp_path / "run", *argv], message)
    fails(capsys, evaluate, [tmp_path, "--data-dir", tmp_path, *argv], message)
    assert not (tmp_path / "run").exists()


def test_a_validation_split_with_no_defect_is_one_error_line(tmp_path, capsys):
    make_layout(tmp_path / "data", n_good=30, n_defect=2)  # 10% of 2 defects rounds to none in val and test
    fails(capsys, train, [*TINY, "--dataset", "nexperia", "--data-dir", tmp_path / "data", "--out", tmp_path / "run",
                          *BAND], "the validation split holds no defect", "--max-miss-rate")
    assert not (tmp_path / "run").exists()
