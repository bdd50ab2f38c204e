"""The tools that study trained runs: explain (Grad-CAM, localisation, t-SNE), ensemble and features, on the
synthetic set (which has defect boxes) and on a plain two-folder layout (which has none)."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn

from darts_nexp.cli import ensemble, explain, features
from darts_nexp.engine.explain import gradcam
from darts_nexp.cli.train import main as train
from darts_nexp.data import Batches, ImageSet
from darts_nexp.localisation import box_mask, centre_prior, energy_in_box, pointing_game, score_maps
from test_data_util import fails, make_layout

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "configs" / "smoke.yaml")
V2 = str(ROOT / "genotypes" / "darts_v2.yaml")


# --- the localisation scores -------------------------------------------------------------------------------------

def test_box_mask_holds_the_pixels_a_box_touches_even_a_thin_one():
    mask = box_mask((10, 12), (2, 3, 5, 4))
    assert mask.sum() == 3 * 1 and mask[3, 2:5].all()
    assert box_mask((10, 10), (4.2, 4.2, 4.3, 4.3)).sum() == 1  # thinner than a pixel: the pixel it lies in


def test_pointing_game_and_energy():
    saliency = np.zeros((8, 8))
    saliency[1, 1], saliency[6, 6] = 3.0, 1.0
    hit, miss = box_mask((8, 8), (0, 0, 3, 3)), box_mask((8, 8), (5, 5, 8, 8))
    assert pointing_game(saliency, hit) == 1.0 and pointing_game(saliency, miss) == 0.0
    assert energy_in_box(saliency, hit) == pytest.approx(0.75) and energy_in_box(saliency, miss) == pytest.approx(0.25)
    assert np.isnan(energy_in_box(np.zeros((8, 8)), hit))


def test_baselines_mean_what_they_say():
    prior = centre_prior((20, 30))
    assert np.unravel_index(prior.argmax(), prior.shape) in {(9, 14), (9, 15), (10, 14), (10, 15)}
    maps = np.stack([np.ones((20, 20)), np.zeros((20, 20))])  # a flat map, and an empty one
    boxes = np.array([[8, 8, 12, 12], [0, 0, 5, 5]], dtype=np.float32)
    s = score_maps(maps, boxes)
    assert s["n_images"] == 2 and s["n_empty_maps"] == 1 and s["per_image"][1]["pointing_game"] is None
    assert s["uniform"]["energy_in_box"] == pytest.approx((16 / 400 + 25 / 400) / 2)
    assert s["map"]["energy_in_box"] == pytest.approx(16 / 400)  # the flat map is the uniform one; the empty one is out
    assert s["centre_prior"]["pointing_game"] == pytest.approx(0.5)  # the central box holds the centre, the corner not


def test_gradcam_finds_the_pixels_that_drive_the_defect_score():
    """A network whose defect logit is the mean brightness: Grad-CAM must light up the one bright square."""
    class Bright(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1)
            self.classifier = nn.Linear(1, 2)
            with torch.no_grad():
                self.conv.weight.fill_(1.0), self.conv.bias.fill_(0.0)
                self.classifier.weight.copy_(torch.tensor([[0.0], [1.0]])), self.classifier.bias.zero_()

        def forward(self, x):
            return self.classifier(self.conv(x).mean(dim=(2, 3)))

    images = np.zeros((2, 1, 24, 24), np.uint8)
    images[0, 0, 3:7, 15:20] = 255
    images[1, 0, 16:22, 2:6] = 255
    boxes = np.array([[15, 3, 20, 7], [2, 16, 6, 22]], dtype=np.float32)
    subset = ImageSet("test", images, np.array([1, 1]), ["a", "b"], boxes)
    model = Bright().eval()
    run = SimpleNamespace(model=model, batches=lambda im, bs: Batches(im, bs, "cpu", shuffle=False, seed=0))
    maps, layer = gradcam(run, subset, batch_size=2, progress=False)
    assert layer == "conv" and maps.shape == (2, 24, 24)
    s = score_maps(maps, boxes)
    assert s["map"]["pointing_game"] == 1.0 and s["map"]["energy_in_box"] > 0.9
    assert s["map"]["energy_in_box"] > 5 * s["uniform"]["energy_in_box"]


# --- the commands on trained runs ------------------------------------------------------------------------------

def train_run(data: Path, out: Path, *model) -> Path:
    return train(["--config", SMOKE, "--data-dir", str(data), "--out", str(out), "--progress", "false",
                  *model]).run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A DARTS run and a resnet18 run on the synthetic set (its boxes cover training images: val has some)."""
    root = tmp_path_factory.mktemp("toolbox")
    data = root / "synthetic"
    return SimpleNamespace(data=data, darts=train_run(data, root / "darts", "--genotype", V2),
                           resnet=train_run(data, root / "resnet", "--model", "resnet18"), root=root)


def test_explain_writes_gradcam_localisation_and_tsne(runs, capsys):
    result = explain.main([str(runs.darts), "--images", "3", "--progress", "false"])
    out = runs.darts / "explain"
    for name in ("gradcam.png", "localisation.json", "tsne.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG" if name.endswith(".png") else (out / name).is_file()
    scores = json.loads((out / "localisation.json").read_text())
    assert scores == json.loads(json.dumps(result["localisation"]))
    assert scores["split"] == "val" and scores["model"] == "darts" and scores["layer"] == "body.cells.2"
    splits = json.loads((runs.darts / "splits.json").read_text())["ids"]
    assert scores["n_images"] > 0 and {r["id"] for r in scores["per_image"]} <= set(splits["val"])
    for what in ("map", "centre_prior", "uniform"):
        assert 0 <= scores[what]["energy_in_box"] <= 1
    assert "pointing game" in capsys.readouterr().out


def test_explain_a_torchvision_run(runs):
    explain.main([str(runs.resnet), "--images", "2", "--tsne-images", "20", "--progress", "false"])
    scores = json.loads((runs.resnet / "explain" / "localisation.json").read_text())
    assert scores["model"] == "resnet18" and scores["layer"].startswith("net.layer")


def test_features_fit_every_classifier(runs):
    body = features.main([str(runs.darts), "--threads", "1"])
    assert set(body["classifiers"]) == {"network", "lda", "rf", "lr", "svm"}
    for r in body["classifiers"].values():
        assert 0 <= r["val_auc"] <= 1 and 0 <= r["test_auc"] <= 1
    best = torch.load(runs.darts / "best.pt", weights_only=True)
    assert body["classifiers"]["network"]["val_auc"] == pytest.approx(best["val_auc"])  # the same scores as training
    assert json.loads((runs.darts / "features" / "features.json").read_text()) == json.loads(json.dumps(body))
    small = features.main([str(runs.darts), "--classifier", "lr", "--max-train", "40", "--out", str(runs.root / "f")])
    assert small["n_train"] == 40 and set(small["classifiers"]) == {"network", "lr"}
    assert json.loads((runs.root / "f" / "features.json").read_text())["n_train"] == 40


def test_explain_and_features_never_overwrite_a_result(runs, capsys):
    """A second explain or features into the same folder is refused, naming what is there; the first result stays."""
    out = runs.root / "once"
    out.mkdir()
    (out / "features.json").write_text("{}")
    (out / "tsne.png").write_bytes(b"png")
    fails(capsys, features.main, [runs.darts, "--out", out], f"{out} already holds features.json", "--out")
    fails(capsys, explain.main, [runs.darts, "--out", out], f"{out} already holds tsne.png", "--out")
    assert (out / "features.json").read_text() == "{}" and (out / "tsne.png").read_bytes() == b"png"
    (runs.root / "a-file").write_text("x")
    fails(capsys, features.main, [runs.darts, "--out", runs.root / "a-file"], "is a file")


def predictions(run: Path) -> dict:
    rows = (run / "predictions.csv").read_text().splitlines()[1:]
    return {r.split(",")[0]: float(r.split(",")[2]) for r in rows}


def test_ensemble_of_equal_weights_is_the_mean_of_the_scores(runs):
    out = runs.root / "equal"
    result = ensemble.main([str(runs.darts), str(runs.resnet), "--out", str(out), "--weights", "equal"])
    a, b, mean = predictions(runs.darts), predictions(runs.resnet), predictions(out)
    assert mean.keys() == a.keys() and all(abs(mean[i] - (a[i] + b[i]) / 2) < 2e-6 for i in mean)
    for name in ("metrics.json", "predictions.csv", "roc.png", "ensemble.json", "run.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "run.json").read_text())["kind"] == "ensemble"
    assert result["summary"]["members"][0]["weight"] == 0.5


def test_fitted_weights_are_at_least_as_good_on_validation_as_any_member(runs):
    result = ensemble.main([str(runs.darts), str(runs.resnet), "--out", str(runs.root / "fit"), "--combine", "rank"])
    s = result["summary"]
    assert sum(m["weight"] for m in s["members"]) == pytest.approx(1)
    assert s["val_auc"] >= max(m["val_auc"] for m in s["members"]) - 1e-12
    assert s["val_auc"] >= s["val_auc_equal_weights"] - 1e-12
    assert all(0 <= v <= 1 for v in predictions(runs.root / "fit").values())  # ranks scaled to 0..1


def test_ensemble_refuses_what_it_cannot_combine(runs, capsys):
    fails(capsys, ensemble.main, [runs.darts, "--out", runs.root / "x"], "at least 2 runs")
    fails(capsys, ensemble.main, [runs.darts, runs.darts, "--out", runs.root / "x"], "given twice")
    other_seed = train_run(runs.data, runs.root / "seed1", "--model", "resnet18", "--epochs", "1", "--seed", "1")
    fails(capsys, ensemble.main, [runs.darts, other_seed, "--out", runs.root / "x"], "different splits")
    fails(capsys, ensemble.main, [runs.darts, runs.root / "equal", "--out", runs.root / "x"], "ensemble run")
    assert not (runs.root / "x").exists()


def test_the_tools_refuse_runs_without_a_trained_network(runs, tmp_path, capsys):
    fails(capsys, explain.main, [tmp_path / "nope"], "nope", "not a folder")
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "run.json").write_text('{"kind": "search", "format": 2, "status": "finished"}')
    fails(capsys, explain.main, [tmp_path / "search"], "holds a search run", "darts-nexp train run")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "run.json").write_text('{"kind": "train", "format": 2, "status": "running"}')
    fails(capsys, features.main, [unfinished], "no best.pt", "--resume")
    fails(capsys, features.main, [runs.darts, "--classifier", "lda,knn"], "unknown knn")


def test_the_tools_on_a_plain_two_folder_layout_without_boxes(tmp_path, capsys):
    data = make_layout(tmp_path / "plain", n_good=40, n_defect=20, n_test=4)
    common = ["--dataset", "nexperia", "--data.image-size", "16", "16"]
    a = train_run(data, tmp_path / "a", "--genotype", V2, "--stem", "cifar", *common)
    b = train_run(data, tmp_path / "b", "--model", "resnet18", *common)
    result = explain.main([str(b), "--images", "2", "--progress", "false"])
    assert result["localisation"] is None and not (b / "explain" / "localisation.json").exists()
    assert "no held-out defect image has a box" in capsys.readouterr().out
    assert (b / "explain" / "gradcam.png").is_file() and (b / "explain" / "tsne.png").is_file()
    assert set(features.main([str(a), "--classifier", "lda,lr"])["classifiers"]) == {"network", "lda", "lr"}
    out = ensemble.main([str(a), str(b), "--out", str(tmp_path / "ens")])["out"]
    assert len((out / "submission.csv").read_text().splitlines()) == 1 + 4  # the unlabelled test folder, combined


def test_boxes_of_unknown_images_are_counted_skipped_and_warned_about(tmp_path, caplog):
    from darts_nexp.data import load_dataset
    from test_data_util import config

    root = make_layout(tmp_path / "plain", n_test=0)
    (root / "defect_area.csv").write_text("id,x_1,y_1,x_2,y_2\nd0,4,4,20,18\nghost,1,1,2,2\nghost2,1,1,2,2\n")
    with caplog.at_level("WARNING"):
        ds = load_dataset(config(root))
    assert "2 of 3 boxes" in caplog.text and "ghost" in caplog.text
    boxes = dict(zip(ds.train.ids, ds.train.boxes.tolist()))
    assert boxes["d0"] == pytest.approx([4 * 16 / 36, 4 * 16 / 40, 20 * 16 / 36, 18 * 16 / 40])
    assert np.isnan(boxes["d1"][0])
