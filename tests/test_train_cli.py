"""train_final.py end to end on tiny synthetic data: every artifact, exact resume, the summary, clean errors."""
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.checkpoint import checkpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from darts_nexp.cli.train import main
from darts_nexp.data import DataConfig
from darts_nexp.data.synthetic import ensure
from darts_nexp.final.loss import Criterion, class_weights
from darts_nexp.runs import Run
from darts_nexp.space import ops

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "configs" / "smoke.yaml")
V2 = str(ROOT / "genotypes" / "darts_v2.yaml")


@pytest.fixture(scope="module")
def unlabelled_test_data(tmp_path_factory) -> Path:
    """The smoke synthetic set read as real data: its test folder has no labels, so part of train is the test."""
    root = tmp_path_factory.mktemp("data") / "nexp"
    cfg = DataConfig(image_size=[32, 32])
    cfg.synthetic.n_train, cfg.synthetic.n_test, cfg.synthetic.size = 160, 60, [64, 64]
    ensure(cfg.synthetic, root)
    (root / "test_labels.csv").unlink()
    return root


def train_args(data: Path, out: Path, *extra) -> list[str]:
    return ["--config", SMOKE, "--genotype", V2, "--dataset", "nexperia", "--data-dir", str(data), "--out", str(out),
            "--drop-path-rate", "0.2", "--progress", "false", *extra]


@pytest.fixture(scope="module")
def full_run(unlabelled_test_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "full"
    return main(train_args(unlabelled_test_data, out))


def test_smoke_run_writes_every_artifact(full_run):
    run = full_run.run_dir
    for name in ("config.yaml", "genotype.yaml", "splits.json", "best.pt", "last.pt", "metrics.json", "roc.png",
                 "predictions.csv", "submission.csv"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("auc", "accuracy", "precision", "recall", "f1", "threshold", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct",
                "n_images", "test_source"):
        assert key in metrics, key
    assert metrics["threshold"]["chosen_on"] == "validation" and metrics["threshold"]["method"] == "youden"
    assert "held-out" in metrics["test_source"]
    predictions = (run / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "id,label,defect_score,defect_probability,decision"
    assert len(predictions) == 1 + metrics["n_images"]
    submission = (run / "submission.csv").read_text().splitlines()
    assert submission[0] == "id,defect_score" and len(submission) == 1 + 60  # every unlabelled test image
    events = EventAccumulator(str(run)).Reload()
    assert {"train/loss", "val/auc", "val/loss", "lr"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("val/auc")] == [1, 2]
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["format"] == 2 and best["role"] == "best" and best["model"]["name"] == "darts"
    assert best["model"]["args"]["layers"] == 3 and best["model"]["args"]["init_channels"] == 8
    assert best["model"]["genotype"]["normal"][0] == ["sep_conv_3x3", 0] and best["data"]["image_size"] == [32, 32]
    assert json.loads((run / "run.json").read_text())["kind"] == "train"


def test_resume_is_exact(full_run, unlabelled_test_data, tmp_path, monkeypatch, capsys):
    """Interrupt after epoch 1 of 2, resume, and get the uninterrupted run's weights and metrics bit for bit. The
    resumed half runs with grad checkpointing, which recomputes each op in the backward pass and changes no number."""
    out = tmp_path / "resumed"
    real_save = Run.save_checkpoint

    def save_then_interrupt(self, name, role, state):
        real_save(self, name, role, state)
        if name == "last.pt" and state["epoch"] == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(Run, "save_checkpoint", save_then_interrupt)
    with pytest.raises(SystemExit) as e:
        main(train_args(unlabelled_test_data, out))
    assert e.value.code == 130 and f"--resume {out}" in capsys.readouterr().err
    assert not (out / "metrics.json").exists()
    monkeypatch.setattr(Run, "save_checkpoint", real_save)
    recomputed = []
    monkeypatch.setattr(ops, "checkpoint", lambda *a, **k: recomputed.append(1) or checkpoint(*a, **k))
    main(["--resume", str(out), "--progress", "false", "--grad-checkpointing", "true"])
    assert "resuming" in capsys.readouterr().out and recomputed
    a = torch.load(full_run.run_dir / "last.pt", weights_only=True)
    b = torch.load(out / "last.pt", weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    for h in a["history"] + b["history"]:  # memory is the process's, not the run's: the only figure allowed to differ
        assert h.pop("peak_mb") > 0
    assert a["history"] == b["history"]
    ours, theirs = (json.loads((d / "metrics.json").read_text()) for d in (out, full_run.run_dir))
    # Latency is a timing of the machine, like peak memory above; every other figure must be the same.
    assert ours.pop("latency").keys() == theirs.pop("latency").keys()
    assert ours.pop("checkpoint") != theirs.pop("checkpoint") and ours == theirs  # null for NaN: comparable
    assert (out / "predictions.csv").read_text() == (full_run.run_dir / "predictions.csv").read_text()


def test_imbalance_options_and_cosine_train(unlabelled_test_data, tmp_path):
    result = main(train_args(unlabelled_test_data, tmp_path / "focal", "--epochs", "1", "--loss", "focal",
                             "--class-weights", "balanced", "--schedule", "cosine", "--auxiliary-weight", "0",
                             "--threshold-cost-ratio", "20"))
    assert result.metrics["threshold"]["method"] == "cost_ratio=20"
    assert result.history[0]["train_loss"] == result.history[0]["train_main_loss"]  # no auxiliary head


@pytest.mark.parametrize("argv,expected,shown", [
    (["--stem", "cifar", "--layers", "20", "--init-channels", "36", "--num-classes", "10", "--image-size", "32", "32"],
     3_349_342, "3.35M"),
    (["--stem", "imagenet", "--layers", "14", "--init-channels", "48", "--num-classes", "1000",
      "--image-size", "224", "224"],
     4_718_752, "4.72M"),
])
def test_summary_prints_the_paper_sizes(argv, expected, shown, capsys):
    result = main(["--genotype", V2, "--summary", "--data.channels", "3", *argv])
    assert result["params"] == expected
    assert shown in capsys.readouterr().out


def test_criterion_focal_and_class_weights():
    weights = class_weights([0, 0, 0, 1], 2, "balanced")
    assert torch.allclose(weights, torch.tensor([4 / 6, 4 / 2]))
    assert class_weights([0, 1], 2, "none") is None
    logits, y = torch.randn(8, 2), torch.tensor([0, 1] * 4)
    ce = Criterion("ce")(logits, y)
    assert torch.allclose(Criterion("focal", focal_gamma=0.0)(logits, y), ce)  # gamma 0 is cross-entropy
    assert Criterion("focal", focal_gamma=2.0)(logits, y) < ce  # easy cases weigh less
    weighted = Criterion("ce", weight=weights)(logits, y)
    assert torch.allclose(weighted, torch.nn.functional.cross_entropy(logits, y, weight=weights))


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("make_argv,message", [
    (lambda t: ["--genotype", str(t / "nope.yaml"), "--summary"], "genotype file .* not found"),
    (lambda t: ["--genotype", write(t / "g.yaml", "normal: [[conv_9x9, 0], [skip_connect, 1]]\n"
                                                            "reduce: [[max_pool_3x3, 0], [max_pool_3x3, 1]]\n"),
                "--summary"], "unknown operation"),
    (lambda t: ["--genotype", write(t / "g.yaml", "normal: [oops\n"), "--summary"], "not valid YAML"),
    (lambda t: ["--summary"], "pass --genotype"),
    (lambda t: ["--genotype", V2, "--dataset", "nexperia", "--data-dir", str(t / "missing"), "--out", str(t / "r")],
     "missing"),
    (lambda t: ["--genotype", V2, "--num-classes", "10", "--out", str(t / "r")], "num-classes 2"),
    (lambda t: ["--resume", str(t)], "no train run there"),
    (lambda t: ["--genotype", V2, "--lr", "-1"], "--lr must be a finite number > 0"),
    (lambda t: ["--genotype", V2, "--lr", "nan"], "--lr must be a finite number > 0"),
    (lambda t: ["--genotype", V2, "--momentum", "1.5"], "--momentum must be in"),
    (lambda t: ["--genotype", V2, "--weight-decay", "-0.1"], "--weight-decay must be a finite number >= 0"),
    (lambda t: ["--genotype", V2, "--lr-gamma", "2"], "--lr-gamma 2 would raise the learning rate"),
    (lambda t: ["--genotype", V2, "--auxiliary-weight", "-1"], "--auxiliary-weight must be a finite number >= 0"),
    (lambda t: ["--genotype", V2, "--config", write(t / "c.yaml", "train: {schedule: step}\n")],
     "schedule: expected one of exp, cosine"),
])
def test_bad_input_exits_cleanly(make_argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(make_argv(tmp_path))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err), err


def test_existing_run_is_not_overwritten(full_run, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--genotype", V2, "--out", str(full_run.run_dir)])
    assert e.value.code == 2 and "--resume" in capsys.readouterr().err


def test_resume_with_a_broken_checkpoint_exits_cleanly(full_run, tmp_path, capsys):
    run = tmp_path / "broken"
    shutil.copytree(full_run.run_dir, run)
    (run / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as e:
        main(["--resume", str(run)])
    assert e.value.code == 2 and "cannot be read" in capsys.readouterr().err
