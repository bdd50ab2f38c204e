"""Configs: defaults, then the YAML file, then the command line; unknown keys and bad types fail clearly."""
from dataclasses import dataclass, field
from typing import Optional

import pytest

from darts_nexp.config import from_dict, parse_config, read_yaml, save_config
from darts_nexp.errors import UserError


@dataclass
class Inner:
    size: list[int] = field(default_factory=lambda: [64, 64])
    name: str = "synthetic"
    rate: float = 0.1


@dataclass
class Outer:
    epochs: int = 5
    order: str = "first"
    amp: bool = False
    out: Optional[str] = None
    inner: Inner = field(default_factory=Inner)
    seed: int = field(default=0, metadata={"flag": "--seed"})


def test_precedence_defaults_file_command_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 7\ninner: {rate: 0.5}\nsearch: {order: second}\ntrain: {epochs: 99}\n")
    cfg, _ = parse_config(Outer, ["--config", str(path), "--inner.size", "32", "48", "--amp", "true"], "t", "search")
    assert cfg.epochs == 7 and cfg.order == "second"  # shared key, then this command's section; other section ignored
    assert cfg.inner == Inner(size=[32, 48], name="synthetic", rate=0.5)  # partial nested mapping keeps defaults
    assert cfg.amp is True and cfg.out is None
    cfg, _ = parse_config(Outer, ["--config", str(path), "--epochs", "3", "--seed", "4"], "t", "train")
    assert (cfg.epochs, cfg.seed) == (3, 4)


def test_resolved_config_round_trips(tmp_path):
    cfg = Outer(epochs=2, inner=Inner(size=[8, 8]))
    save_config(cfg, tmp_path / "config.yaml")
    assert from_dict(Outer, read_yaml(tmp_path / "config.yaml")) == cfg


@pytest.mark.parametrize("values,message", [
    ({"epoch": 3}, "unknown key.*valid keys are epochs"),
    ({"epochs": "many"}, "epochs: expected int"),
    ({"inner": {"size": 64}}, "expected a list"),
    ({"amp": "maybe"}, "expected true or false"),
    ({"inner": 3}, "expected a mapping"),
    ({"epochs": None}, "a value is required"),
])
def test_bad_values_name_the_key(values, message):
    with pytest.raises(UserError, match=message):
        from_dict(Outer, values)


def test_malformed_or_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        parse_config(Outer, ["--config", str(bad)], "t", "search")
    with pytest.raises(UserError, match="not found"):
        parse_config(Outer, ["--config", str(tmp_path / "none.yaml")], "t", "search")
