"""DataConfig: defaults, YAML/command-line filling through the shared config code, and rejected values."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from darts_nexp.cli.parse import parse_args
from darts_nexp.config import from_dict, validate
from darts_nexp.data import DataConfig
from darts_nexp.errors import UserError


def test_defaults_and_nested_update():
    cfg = from_dict(DataConfig, {"image_size": [32, 48], "synthetic": {"n_train": 100}, "augment": {"shift": 2}})
    assert cfg.dataset == "synthetic" and cfg.image_size == [32, 48]
    assert cfg.synthetic.n_train == 100 and cfg.synthetic.n_test == 600 and cfg.augment.shift == 2


@dataclass
class Command:
    data: DataConfig = field(default_factory=DataConfig)


def test_short_flags():
    cfg = parse_args(Command, ["--dataset", "nexperia", "--data-dir", "d", "--data.synthetic.n-train", "9"], "x").data
    assert (cfg.dataset, cfg.data_dir, cfg.synthetic.n_train) == ("nexperia", "d", 9)


@pytest.mark.parametrize("values,match", [
    ({"dataset": "cifar"}, "expected one of synthetic, nexperia"),
    ({"dataset": "nexperia"}, "needs --data-dir"),
    ({"resize": "squash"}, "expected one of resize, crop"),
    ({"image_size": [64]}, "--data.image-size takes two numbers"),
    ({"channels": 2}, "channels: expected one of 1, 3"),
    ({"crop_border": -1}, "crop_border must be >= 0"),
    ({"val_fraction": 0.7}, "--data.val-fraction 0.7: .* above 0 and below 0.5"),
    ({"val_fraction": 0}, "--data.val-fraction 0"),
    ({"test_fraction": 0.0}, "--data.test-fraction 0.0"),
    ({"synthetic": {"label_noise": 0.9}}, "synthetic.label_noise"),
    ({"synthetic": {"size": [10, 10]}}, "synthetic.size"),
    ({"augment": {"contrast": 1.5}}, "augment"),
])
def test_bad_values(values, match):
    with pytest.raises(UserError, match=match):
        validate(from_dict(DataConfig, values))


def test_cache_root(tmp_path):
    assert DataConfig().cache_root(tmp_path) == tmp_path / ".cache"
    assert DataConfig(cache_dir=str(tmp_path / "c")).cache_root(tmp_path / "x") == tmp_path / "c"
