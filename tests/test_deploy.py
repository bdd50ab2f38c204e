"""From a run to the line: export to ONNX and TorchScript checked against PyTorch, scoring from an exported file
(evaluate and darts_nexp.load), measured latency, and the refusals of each."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import darts_nexp
import darts_nexp.engine.export as export_engine
from darts_nexp.cli.ensemble import main as ensemble
from darts_nexp.cli.export import main as export
from darts_nexp.cli.latency import main as latency
from darts_nexp.cli.search import main as search
from darts_nexp.cli.train import main as train
from darts_nexp.deploy.exported import FORMAT, KEY, open_file, record, write
from darts_nexp.deploy.scorer import Scorer
from darts_nexp.errors import UserError
from darts_nexp.evaluate import main as evaluate
from darts_nexp.models import create_model
from test_data_util import fails


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch smoke run on the synthetic set (its test folder has labels), and its ONNX export."""
    base = tmp_path_factory.mktemp("deploy")
    data, run = base / "data", base / "run"
    train(["--config", "smoke", "--genotype", "darts_v2", "--data-dir", str(data), "--out", str(run), "--epochs", "1",
           "--progress", "false"])
    export([str(run), "--format", "onnx"])
    return data, run


def scored(folder: Path) -> dict:
    rows = (folder / "submission.csv").read_text().splitlines()[1:]
    return {line.split(",")[0]: float(line.split(",")[1]) for line in rows}


def test_training_records_its_latency(trained):
    metrics = json.loads((trained[1] / "metrics.json").read_text())["latency"]
    assert metrics["backend"] == "pytorch" and metrics["device"] == "cpu" and metrics["threads"] >= 1
    assert 0 < metrics["batch_32_ms_per_image"] and 0 < metrics["batch_1_ms_per_image"]
    assert metrics["batch_32_images_per_s"] == pytest.approx(1000 / metrics["batch_32_ms_per_image"])


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_an_export_scores_a_folder_as_pytorch_does(trained, tmp_path, capsys, fmt):
    data, run = trained
    path = run / "model.onnx" if fmt == "onnx" else export([str(run), "--format", fmt, "--out",
                                                             str(tmp_path / "m.torchscript")])
    folder = ["--data-dir", str(data / "test"), "--labels-csv", str(data / "test_labels.csv")]
    evaluate([str(run), *folder, "--out", str(tmp_path / "torch")])
    evaluate([str(path), *folder, "--out", str(tmp_path / "file")])
    ours, theirs = scored(tmp_path / "file"), scored(tmp_path / "torch")
    assert ours.keys() == theirs.keys() and len(ours) == 60
    assert max(abs(ours[k] - theirs[k]) for k in ours) <= 1e-4
    metrics = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("file", "torch")]
    assert metrics[0]["threshold"] == metrics[1]["threshold"] and metrics[0]["auc"] == pytest.approx(metrics[1]["auc"])


def test_the_file_records_what_a_scorer_needs(trained):
    import onnx

    _, run = trained
    meta = json.loads({p.key: p.value for p in onnx.load(str(run / "model.onnx")).metadata_props}[KEY])
    best = torch.load(run / "best.pt", weights_only=True)
    assert meta["input"]["image_size"] == [32, 32] and meta["input"]["channels"] == 1
    assert meta["input"]["crop_border"] == 0 and meta["input"]["resize"] == "resize"
    assert meta["classes"] == ["good", "defect"] and meta["threshold"] == best["threshold"]
    assert meta["model"] == "darts" and meta["format"] == FORMAT
    logits, _ = open_file(run / "model.onnx")
    for batch in (1, 5):  # a dynamic batch axis
        assert logits(np.full((batch, 1, 32, 32), 128, np.float32)).shape == (batch, 2)


def test_the_python_predictor(trained):
    data, run = trained
    files = sorted((data / "test").rglob("*.bmp"))[:5]
    from_run, from_file = darts_nexp.load(run), darts_nexp.load(run / "model.onnx")
    result = from_run.predict(files)
    assert np.abs(result.scores - from_file.predict(files).scores).max() <= 1e-4
    assert result.decisions == ["reject" if s >= result.threshold else "pass" for s in result.scores]
    from PIL import Image

    gray = np.asarray(Image.open(files[0]).convert("L"))
    assert from_run.predict(gray).scores[0] == pytest.approx(result.scores[0])  # an array: the same preparation
    assert from_run.predict(Image.open(files[0])).scores[0] == pytest.approx(result.scores[0])
    with pytest.raises(UserError, match="cannot read image"):
        from_run.predict([data / "missing.bmp"])


def test_latency_of_a_run_and_of_a_file(trained, capsys):
    _, run = trained
    rows = latency([str(run), "--batch-sizes", "1", "4", "--repeats", "3"])["rows"]
    assert {(r["backend"], r["batch"]) for r in rows} == {("pytorch", 1), ("pytorch", 4), ("onnxruntime", 1),
                                                          ("onnxruntime", 4)}
    assert all(r["ms_per_image"] > 0 and r["images_per_s"] == pytest.approx(1000 / r["ms_per_image"]) for r in rows)
    result = latency([str(run / "model.onnx"), "--batch-sizes", "2", "--repeats", "3"])
    assert [r["backend"] for r in result["rows"]] == ["onnxruntime"] and "cpu" in result["machine"]
    assert "ms/image" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_torchvision_models_export_faithfully(tmp_path, name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=2, in_chans=1)
    checkpoint = {"model": model.spec(), "threshold": {"value": 0.3, "method": "youden", "chosen_on": "validation"},
                  "data": {"image_size": [40, 40], "crop_border": 0, "resize": "resize", "channels": 1}}
    pixels = np.random.default_rng(0).uniform(0, 255, (3, 1, 40, 40)).astype(np.float32)
    expected = Scorer(model.eval())(torch.from_numpy(pixels))[0].detach().numpy()
    for fmt in ("onnx", "torchscript"):
        path = write(Scorer(model), record(checkpoint), tmp_path / f"m.{fmt}", fmt)
        logits, meta = open_file(path)
        assert np.abs(logits(pixels) - expected).max() < 1e-3 and meta["model"] == name


def test_an_export_that_differs_from_pytorch_is_deleted(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(export_engine, "TOLERANCE", -1.0)
    out = tmp_path / "bad.onnx"
    fails(capsys, export, [trained[1], "--out", out], "validation images up to", "so it was deleted")
    assert not out.exists()


def test_what_export_refuses(trained, tmp_path, capsys):
    data, run = trained
    fails(capsys, export, [run], f"{run / 'model.onnx'} already exists")
    fails(capsys, export, [run, "--format", "torchscript", "--out", tmp_path / "m.onnx"], "must end in .torchscript")
    search(["--config", "smoke", "--data-dir", str(data), "--out", str(tmp_path / "search"), "--epochs", "1",
            "--genotype-out", str(tmp_path / "g.yaml"), "--progress", "false"])
    fails(capsys, export, [tmp_path / "search"], "holds a search run", "darts-nexp train run")
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished)
    info = json.loads((unfinished / "run.json").read_text())
    (unfinished / "run.json").write_text(json.dumps({**info, "status": "running"}))
    fails(capsys, export, [unfinished, "--out", tmp_path / "u.onnx"], "has not finished training", "--resume")
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    ensemble([str(run), str(copy), "--out", str(tmp_path / "ens")])
    fails(capsys, export, [tmp_path / "ens"], "holds an ensemble run")
    assert not (tmp_path / "u.onnx").exists()


def test_a_damaged_or_newer_file_is_refused(trained, tmp_path, capsys):
    import onnx

    data, run = trained
    folder = ["--data-dir", str(data / "test")]
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes((run / "model.onnx").read_bytes()[:200])
    fails(capsys, evaluate, [damaged, *folder], f"{damaged} cannot be read as onnx", "export it again")
    model = onnx.load(str(run / "model.onnx"))
    meta = json.loads(model.metadata_props[0].value)
    model.metadata_props[0].value = json.dumps({**meta, "format": FORMAT + 1})
    newer = tmp_path / "newer.onnx"
    onnx.save(model, str(newer))
    fails(capsys, evaluate, [newer, *folder], "newer darts-nexp", "upgrade")
    del model.metadata_props[0]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    fails(capsys, evaluate, [tmp_path / "bare.onnx", *folder], "holds no darts-nexp record")
    (tmp_path / "m.torchscript").write_bytes(b"not a zip")
    fails(capsys, latency, [tmp_path / "m.torchscript"], "cannot be read as torchscript")
    fails(capsys, evaluate, [run / "model.onnx", *folder, "--threshold-max-fpr", "0.05"],
          "an exported model holds no validation scores")
