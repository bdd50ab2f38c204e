"""The model factory: torchvision models by name, adapted to grayscale and two classes, pretrained weights from the
hub cache or a file, and train_final.py --model end to end (fine-tuning options, resume, evaluate)."""
import json
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from darts_nexp.cli import evaluate
from darts_nexp.cli.train import main
from darts_nexp.models import (cam_layer, create_model, load_model, model_names, penultimate, split_parameters,
                               _hub_file)
from darts_nexp.space import Genotype
from test_data_util import fails

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "configs" / "smoke.yaml")
V2 = ROOT / "genotypes" / "darts_v2.yaml"
NAMED_IN_THE_ISSUE = ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "densenet121", "vgg16",
                      "efficientnet_b0"]


@pytest.mark.parametrize("name", NAMED_IN_THE_ISSUE)
def test_every_named_model_takes_gray_images_and_gives_two_logits(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert model(x).shape == (2, 2)
        feats, logits = penultimate(model, x)
        assert feats.shape == (2, model.classifier.in_features) and torch.equal(logits, model(x))
    layer, _ = cam_layer(model, (64, 64), 1)
    assert layer.startswith("net.")
    assert model.spec() == {"name": name, "args": {"num_classes": 2, "in_chans": 1}, "genotype": None}


def test_grayscale_first_conv_answers_as_the_rgb_model_does_to_a_gray_image():
    torch.manual_seed(0)
    rgb = torchvision.models.resnet18().eval()
    path = Path("rgb.pth")
    torch.save(rgb.state_dict(), path)
    gray = create_model("resnet18", pretrained=str(path)).eval()
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        expected = penultimate_of_torchvision(rgb, x.expand(-1, 3, -1, -1))
        assert torch.allclose(penultimate(gray, x)[0], expected, atol=1e-5)
    assert gray.classifier.out_features == 2


def penultimate_of_torchvision(net, x):
    seen = []
    hook = net.fc.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    net(x)
    hook.remove()
    return seen[0]


def test_imagenet_weights_come_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    file = _hub_file(torchvision.models.ResNet18_Weights.DEFAULT.url)
    assert str(file).startswith(str(tmp_path))
    file.parent.mkdir(parents=True)
    torch.manual_seed(1)
    cached = torchvision.models.resnet18()
    torch.save(cached.state_dict(), file)
    model = create_model("resnet18", pretrained="imagenet")
    assert torch.equal(model.net.layer3[0].conv1.weight, cached.layer3[0].conv1.weight)
    assert torch.equal(model.net.conv1.weight, cached.conv1.weight.sum(dim=1, keepdim=True))


def test_missing_imagenet_weights_name_the_file_and_where_it_goes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    file = _hub_file(torchvision.models.ResNet18_Weights.DEFAULT.url)
    fails(capsys, main, ["--model", "resnet18", "--pretrained", "imagenet", "--summary"], file, "resnet18-",
          "copy it to")


def test_state_dict_of_another_architecture_names_the_first_mismatched_key(capsys):
    torch.save(torchvision.models.resnet50().state_dict(), "r50.pth")
    fails(capsys, main, ["--model", "resnet18", "--pretrained", "r50.pth", "--summary"], "r50.pth",
          "layer1.0.conv1.weight")
    torch.save({"not": torch.zeros(1)}, "junk.pth")
    fails(capsys, main, ["--model", "resnet18", "--pretrained", "junk.pth", "--summary"], "conv1.weight")


def test_unknown_model_lists_the_valid_names(capsys):
    line = fails(capsys, main, ["--model", "resnet_18", "--summary"], "resnet_18", "resnet18", "densenet121")
    assert "darts" in line


@pytest.mark.parametrize("argv,message", [
    (["--model", "resnet18", "--genotype", str(V2), "--summary"], "--genotype is for the darts network"),
    (["--genotype", str(V2), "--pretrained", "imagenet", "--summary"], "--pretrained imagenet is for torchvision"),
    (["--model", "resnet18", "--drop-path-rate", "0.2", "--summary"], "--drop-path-rate is for the darts"),
    (["--model", "resnet18", "--grad-checkpointing", "true", "--summary"], "--grad-checkpointing is for the darts"),
    (["--grad-checkpointing", "true", "--compile", "true", "--summary"], "--grad-checkpointing and --compile"),
    (["--model", "resnet18", "--backbone-lr-scale", "0", "--summary"], "--backbone-lr-scale"),
    (["--model", "resnet18", "--freeze-epochs", "-1", "--summary"], "--freeze-epochs"),
    (["--model", "vit_b_16", "--summary", "--image-size", "64", "64"], "vit_b_16 cannot take 64x64 images"),
])
def test_model_options_are_checked(argv, message, capsys):
    fails(capsys, main, argv, message)


def test_summary_of_a_torchvision_model(capsys):
    result = main(["--model", "resnet18", "--summary", "--image-size", "224", "224"])
    # torchvision's 11,689,512, less two thirds of the 3x64x7x7 first conv, less the 1000-class head, plus 2 classes
    assert result["params"] == 11_689_512 - 2 * 64 * 7 * 7 - (512 * 1000 + 1000) + (512 * 2 + 2)
    out = capsys.readouterr().out
    assert "resnet18 (from scratch)" in out and "11.17M" in out


def test_darts_through_the_factory_is_the_final_network():
    g = Genotype.load(V2)
    model = create_model("darts", genotype=g, init_channels=4, layers=3, stem="cifar")
    assert type(model).__name__ == "FinalNetwork" and {p for p in split_parameters(model)[1]} == (
        set(model.classifier.parameters()) | set(model.aux_head.parameters()))
    assert cam_layer(model, (32, 32), 1)[0] == "body.cells.2"
    assert "darts" in model_names()


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "resnet"
    data = tmp_path_factory.mktemp("data") / "synthetic"
    result = main(["--config", SMOKE, "--model", "resnet18", "--data-dir", str(data), "--out", str(out),
                   "--progress", "false", "--freeze-epochs", "1", "--backbone-lr-scale", "0.1"])
    return result, data


def test_torchvision_model_trains_scores_and_evaluates(resnet_run, tmp_path):
    result, data = resnet_run
    run = result.run_dir
    assert {"best.pt", "last.pt", "metrics.json", "predictions.csv", "roc.png"} <= {p.name for p in run.iterdir()}
    assert not (run / "genotype.yaml").exists()
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["model"] == {"name": "resnet18", "args": {"num_classes": 2, "in_chans": 1}, "genotype": None}
    assert 0 <= result.metrics["auc"] <= 1
    scored = evaluate.main([str(run), "--data-dir", str(data / "test"), "--out", str(tmp_path / "eval")])
    assert scored["out"] == tmp_path / "eval" and (tmp_path / "eval" / "submission.csv").is_file()
    model = load_model(best)
    assert not model.training and model.classifier.out_features == 2


def test_frozen_backbone_keeps_its_weights_and_the_backbone_learns_slower(tmp_path, resnet_run):
    _, data = resnet_run
    torch.manual_seed(0)  # the factory's weights for --seed 0, as train_final.py draws them
    start = create_model("resnet18").state_dict()
    out = tmp_path / "frozen"
    main(["--config", SMOKE, "--model", "resnet18", "--data-dir", str(data), "--out", str(out), "--epochs", "1",
          "--progress", "false", "--freeze-epochs", "1"])
    after = torch.load(out / "last.pt", weights_only=True)
    state = after["state_dict"]
    assert torch.equal(state["net.layer2.0.conv1.weight"], start["net.layer2.0.conv1.weight"])
    assert not torch.equal(state["net.fc.weight"], start["net.fc.weight"])
    resnet = torch.load(resnet_run[0].run_dir / "last.pt", weights_only=True)
    lrs = [g["lr"] for g in resnet["optimizer"]["param_groups"]]
    assert len(lrs) == 2 and lrs[0] == pytest.approx(lrs[1] * 0.1)  # backbone group first, at 0.1 x the head's
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_torchvision_run_resumes(resnet_run, tmp_path, capsys):
    _, data = resnet_run
    out = tmp_path / "r"
    main(["--config", SMOKE, "--model", "resnet18", "--data-dir", str(data), "--out", str(out), "--epochs", "1",
          "--progress", "false"])
    main(["--resume", str(out), "--epochs", "2", "--progress", "false"])
    assert "resuming" in capsys.readouterr().out
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1


def test_adamw_option_trains_with_adamw(resnet_run, tmp_path):
    _, data = resnet_run
    out = tmp_path / "adamw"
    main(["--config", SMOKE, "--model", "resnet18", "--data-dir", str(data), "--out", str(out), "--epochs", "1",
          "--progress", "false", "--optimizer", "adamw", "--lr", "1e-3"])
    state = torch.load(out / "last.pt", weights_only=True)["optimizer"]["state"]
    assert "exp_avg_sq" in next(iter(state.values()))  # Adam's second moment: not SGD's momentum buffer
