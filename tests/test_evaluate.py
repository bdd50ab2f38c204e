"""Scoring a folder with a trained run: the same scores as training, outputs for labelled and unlabelled images."""
import json
import shutil
from pathlib import Path

import pytest

from darts_nexp.cli.train import main as train
from darts_nexp.evaluate import main as evaluate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch smoke run on the synthetic set, whose test folder has labels (test_labels.csv)."""
    base = tmp_path_factory.mktemp("eval")
    data, run = base / "data", base / "run"
    train(["--config", str(ROOT / "configs" / "smoke.yaml"), "--genotype", str(ROOT / "genotypes" / "darts_v1.yaml"),
           "--data-dir", str(data), "--out", str(run), "--epochs", "1", "--layers", "2", "--progress", "false"])
    return data, run


def test_scoring_the_test_folder_reproduces_training(trained, tmp_path):
    data, run = trained
    out = tmp_path / "scored"
    result = evaluate([str(run), "--data-dir", str(data / "test"), "--labels-csv", str(data / "test_labels.csv"),
                       "--out", str(out)])
    assert {p.name for p in result["files"]} == {"metrics.json", "predictions.csv", "roc.png", "submission.csv"}
    # same checkpoint, same preprocessing from the checkpoint: the scores training wrote for its test split
    assert (out / "predictions.csv").read_text() == (run / "predictions.csv").read_text()
    ours, theirs = (json.loads((d / "metrics.json").read_text()) for d in (out, run))
    assert ours["auc"] == theirs["auc"] and ours["threshold"] == theirs["threshold"]
    assert len((out / "submission.csv").read_text().splitlines()) == 1 + ours["n_images"]


def test_the_image_cache_can_be_put_elsewhere(trained, tmp_path):
    """For a folder of images that is read-only (a shared drive), the decoded images go to --cache-dir."""
    data, run = trained
    evaluate([str(run), "--data-dir", str(data / "test"), "--cache-dir", str(tmp_path / "cache"),
              "--out", str(tmp_path / "scored")])
    assert list((tmp_path / "cache").glob("*.npy"))


def test_unlabelled_folder_gets_a_submission_only(trained):
    data, run = trained
    result = evaluate([str(run / "best.pt"), "--data-dir", str(data / "test"), "--threshold", "0.3"])
    assert result["metrics"] is None and [p.name for p in result["files"]] == ["submission.csv"]
    assert result["out"].parent == run and result["out"].name.startswith("eval-test-")
    rows = (result["out"] / "submission.csv").read_text().splitlines()
    assert rows[0] == "id,defect_score" and len(rows) == 61


def test_class_folders_give_labels_and_a_cost_threshold(trained, tmp_path):
    data, run = trained
    folder = tmp_path / "line"
    for src, dst in (("good_all", "good"), ("defect", "defect")):
        (folder / dst).mkdir(parents=True)
        for f in sorted((data / "train" / "train_contest" / src).glob("*.bmp"))[:5]:
            shutil.copy(f, folder / dst / f.name)
    result = evaluate([str(run), "--data-dir", str(folder), "--threshold-cost-ratio", "50", "--out", str(tmp_path / "o")])
    assert result["metrics"]["n_defect"] == 5 and result["metrics"]["n_good"] == 5
    assert result["metrics"]["threshold"]["method"] == "cost_ratio=50"


@pytest.mark.parametrize("make_argv,message", [
    (lambda run, t: [str(t / "garbage.pt"), "--data-dir", str(t)], "cannot be read"),
    (lambda run, t: [str(t), "--data-dir", str(t)], "holds no best.pt"),
    (lambda run, t: [str(run), "--data-dir", str(t / "missing")], "not found"),
    (lambda run, t: [str(run)], "pass --data-dir"),
    (lambda run, t: [str(run / "missing.pt"), "--data-dir", str(t)], "not found"),
    (lambda run, t: [str(run), "--data-dir", str(t), "--threshold", "0.5", "--threshold-cost-ratio", "3"], "not both"),
])
def test_bad_input_exits_cleanly(trained, make_argv, message, tmp_path, capsys):
    (tmp_path / "garbage.pt").write_bytes(b"\x00not a checkpoint")
    with pytest.raises(SystemExit) as e:
        evaluate(make_argv(trained[1], tmp_path))
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: ") and message in err, err
