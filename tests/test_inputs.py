"""Defaults that fit the images: the input size and stem chosen from the data when the config leaves them open."""
import logging

import pytest
import yaml
from test_data_util import write_images

from darts_nexp.engine.inputs import resolve_input
from darts_nexp.engine.search import SearchConfig
from darts_nexp.cli.search import main as search
from darts_nexp.engine.train import TrainConfig
from darts_nexp.data import DataConfig
from darts_nexp.data.config import auto_image_size
from darts_nexp.space import auto_stem, first_cell_size


def nexperia(root, size, n=6):
    write_images(root / "good", n, size=size, seed=1, prefix="g")
    write_images(root / "defect", n, size=size, seed=2, prefix="d")
    return DataConfig(dataset="nexperia", data_dir=str(root))


@pytest.mark.parametrize("native,size,stem", [
    ((267, 275), [128, 132], "imagenet"),  # Nexperia stage 2: thin scratches need >= 128 px
    ((224, 224), [128, 128], "imagenet"),  # stage 1
    ((64, 64), [64, 64], "cifar"),  # small images are kept as they are, at full resolution in the first cell
])
def test_the_size_and_stem_follow_the_images(tmp_path, native, size, stem):
    for cls in (SearchConfig, TrainConfig):
        cfg = cls(data=nexperia(tmp_path / f"{native[0]}", native))
        line = resolve_input(cfg)
        assert (cfg.data.image_size, cfg.stem) == (size, stem)
        assert f"from {native[0]}x{native[1]} images" in line and f"{stem} stem for that size" in line
        assert min(first_cell_size(cfg.stem, cfg.data.image_size)) >= 16


def test_the_imagenet_stem_never_meets_64_px():
    assert auto_stem([64, 64]) == "cifar" and auto_stem([127, 300]) == "cifar" and auto_stem([128, 132]) == "imagenet"
    assert auto_image_size((267, 275)) == [128, 132] and auto_image_size((50, 90)) == [50, 90]


def test_the_synthetic_default_is_sized_like_nexperia():
    cfg = TrainConfig()
    resolve_input(cfg)
    assert (cfg.data.image_size, cfg.stem) == ([128, 132], "imagenet")


def test_an_explicit_choice_wins_with_a_warning_below_16_px(caplog):
    cfg = TrainConfig(stem="imagenet", data=DataConfig(image_size=[64, 64]))
    with caplog.at_level(logging.WARNING):
        line = resolve_input(cfg)
    assert (cfg.data.image_size, cfg.stem) == ([64, 64], "imagenet") and "auto" not in line
    assert "reach the first cell as 8x8" in caplog.text and "--data.image-size 128 128" in caplog.text
    caplog.clear()
    resolve_input(TrainConfig(stem="cifar", data=DataConfig(image_size=[64, 64])))
    assert not caplog.text


def test_the_resolved_choice_is_printed_and_saved(tmp_path, capsys):
    data = nexperia(tmp_path / "data", (40, 36), n=8)
    search(["--dataset", "nexperia", "--data-dir", data.data_dir, "--out", str(tmp_path / "run"), "--epochs", "1",
            "--order", "first", "--init-channels", "4", "--layers", "2", "--batch-size", "4", "--progress", "false",
            "--genotype-out", str(tmp_path / "g.yaml")])
    assert "input 40x36, cifar stem: the first cell sees 40x36 (auto: from 40x36 images" in capsys.readouterr().out
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["image_size"] == [40, 36] and saved["stem"] == "cifar"
