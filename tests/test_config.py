"""Configs: defaults, then the YAML file, then the command line; values are taken as typed, bad types fail clearly."""
import importlib
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest
import yaml
from test_data_util import fails

from darts_nexp.engine.evaluate import EvaluateConfig
from darts_nexp.engine.search import SearchConfig
from darts_nexp.cli.search import main as search_main
from darts_nexp.engine.train import TrainConfig
from darts_nexp.cli.parse import parse_command
from darts_nexp.cli.sections import section_fields
from darts_nexp.engine.derive import DeriveConfig
from darts_nexp.config import dump_yaml, from_dict, read_yaml
from darts_nexp.errors import UserError
from darts_nexp.runs import Run


@dataclass
class Inner:
    size: list[int] = field(default_factory=lambda: [64, 64])
    name: str = "synthetic"
    rate: float = 0.1


@dataclass
class Outer:
    epochs: int = 5
    order: Literal["first", "second"] = "first"
    amp: bool = False
    out: Optional[str] = None
    inner: Inner = field(default_factory=Inner)
    seed: int = 0


def parse(argv, section="search", cls=Outer):
    return parse_command(cls, argv, "test", section)[0]


def test_precedence_defaults_file_command_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 7\ninner: {rate: 0.5}\nsearch: {order: second}\ntrain: {epochs: 99}\n")
    cfg = parse(["--config", str(path), "--inner.size", "32", "48", "--amp", "true"])
    assert cfg.epochs == 7 and cfg.order == "second"  # shared key, then this command's section; other section ignored
    assert cfg.inner == Inner(size=[32, 48], name="synthetic", rate=0.5)  # partial nested mapping keeps defaults
    assert cfg.amp is True and cfg.out is None
    cfg = parse(["--config", str(path), "--epochs", "3", "--seed", "4", "--amp", "FALSE"], "train")
    assert (cfg.epochs, cfg.seed, cfg.amp) == (3, 4, False)


@pytest.mark.parametrize("text", ["007", "12:30", "on", "null", "1e3", "[a]"])
def test_string_fields_take_the_text_as_typed(text):
    cfg = parse(["--out", text, "--inner.name", text])
    assert cfg.out == text and cfg.inner.name == text


def test_the_commands_keep_their_flag_spellings(tmp_path):
    cfg = parse_command(SearchConfig, ["--init-channels", "8", "--data.image-size", "64", "48", "--dataset",
                                       "nexperia", "--data-dir", "007", "--out", "on", "--progress", "false"],
                        "t", "search")[0]
    assert (cfg.init_channels, cfg.data.image_size, cfg.data.dataset) == (8, [64, 48], "nexperia")
    assert (cfg.data.data_dir, cfg.out, cfg.progress) == ("007", "on", False)
    cfg = parse_command(TrainConfig, ["--stem", "cifar", "--data.augment.shift", "2"], "t", "train")[0]
    assert cfg.stem == "cifar" and cfg.data.augment.shift == 2


def test_a_saved_config_resumes_to_the_same_config(tmp_path):
    cfg = parse_command(SearchConfig, ["--out", str(tmp_path / "run"), "--epochs", "3", "--data-dir", "007",
                                       "--data.image-size", "40", "48", "--arch-betas", "0.4", "0.9"], "t", "search")[0]
    run = Run.open(cfg.out, "search")
    run.save_config(cfg)
    resumed, ns = parse_command(SearchConfig, ["--resume", cfg.out], "t", "search")
    assert resumed == cfg and ns.resume == cfg.out
    assert yaml.safe_load(dump_yaml(cfg))["data"]["data_dir"] == "007"  # quoted: it stays text in the file
    moved = parse_command(SearchConfig, ["--resume", cfg.out, "--threads", "1", "--data-dir", "elsewhere"], "t",
                          "search")[0]
    assert moved.threads == 1 and moved.data.data_dir == "elsewhere" and moved.epochs == cfg.epochs
    with pytest.raises(UserError, match="--epochs 9 \\(the run has 3\\) cannot change on --resume"):
        parse_command(SearchConfig, ["--resume", cfg.out, "--epochs", "9"], "t", "search")


@pytest.mark.parametrize("values,message", [
    ({"epoch": 3}, "unknown key.*valid keys are epochs"),
    ({"epochs": "many"}, "epochs: expected int, got 'many'"),
    ({"epochs": True}, "epochs: expected int"),
    ({"inner": {"size": 64}}, "inner.size: expected a list of int, got 64"),
    ({"inner": {"size": [64, 6.5]}}, "inner.size: expected a list of int"),
    ({"amp": "maybe"}, "amp: expected bool"),
    ({"inner": 3}, "expected a mapping"),
    ({"epochs": None}, "epochs: expected int, got None"),
    ({"order": "third"}, "order: expected one of first, second"),
    ({"out": 7}, "out: expected str or null, got 7 \\(quote it"),
])
def test_bad_values_name_the_key(values, message):
    with pytest.raises(UserError, match=message):
        from_dict(Outer, values)


def test_ints_are_accepted_for_floats():
    assert from_dict(Inner, {"rate": 1}).rate == 1.0 and isinstance(from_dict(Inner, {"rate": 1}).rate, float)


def test_malformed_or_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        parse(["--config", str(bad)])
    with pytest.raises(UserError, match="not found"):
        parse(["--config", str(tmp_path / "none.yaml")])
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8"):
        read_yaml(latin)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="must hold a mapping"):
        read_yaml(listed)
    section = tmp_path / "section.yaml"
    section.write_text("search: 3\n")
    with pytest.raises(UserError, match="section 'search' must be a mapping"):
        read_yaml(section, "search")
    merged = tmp_path / "merged.yaml"  # YAML's merge key is not a key given twice; what follows it overrides it
    merged.write_text("base: &base {epochs: 2, lr: 0.1}\nsearch: {<<: *base, lr: 0.2}\n")
    assert read_yaml(merged, "search") == {"base": {"epochs": 2, "lr": 0.1}, "epochs": 2, "lr": 0.2}
    twice = tmp_path / "twice.yaml"
    twice.write_text("seed: 3\nsearch:\n  epochs: 2\n  epochs: 5\n")  # the last one used to win, silently
    with pytest.raises(UserError, match=r"twice.yaml is not valid YAML \(key 'epochs' given twice at line 4"):
        read_yaml(twice, "search")


def test_resume_and_config_together_are_refused(tmp_path):
    with pytest.raises(UserError, match="drop --config"):
        parse(["--resume", str(tmp_path), "--config", "x.yaml"])


def test_help_lists_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit) as e:
        search_main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--config", "--resume", "--epochs", "--init-channels", "--data.image-size", "--dataset",
                 "--data-dir", "--data.augment.shift", "--arch-betas", "--genotype-out"):
        assert flag in text, flag
    assert "(default: 50)" in text and "Adam learning rate of the alphas" in text


@pytest.mark.parametrize("argv,names", [
    (["--epochs", "ten"], ["--epochs", "'ten'"]),
    (["--order", "third"], ["'third'", "--order"]),
    (["--progress", "maybe"], ["--progress", "expected true or false"]),
    (["--no-such-flag", "3"], ["--no-such-flag"]),
])
def test_a_malformed_flag_is_one_error_line(tmp_path, capsys, argv, names):
    fails(capsys, search_main, argv, *names, "darts-nexp search --help")


@pytest.mark.parametrize("module,argv", [
    ("darts_nexp.cli.search", ["--seed", "{seed}"]),
    ("darts_nexp.cli.train", ["--seed", "{seed}"]),
    ("darts_nexp.cli.search", ["--data.synthetic.seed", "{seed}"]),
    ("darts_nexp.cli.explain", ["/no/run", "--seed", "{seed}"]),
    ("darts_nexp.cli.features", ["/no/run", "--seed", "{seed}"]),
    ("darts_nexp.cli.ensemble", ["/no/a", "/no/b", "--seed", "{seed}"]),
    ("darts_nexp.cli.sample", ["--seed", "{seed}"]),
    ("darts_nexp.cli.data", ["synthetic", "--out", "{tmp}/syn", "--seed", "{seed}"]),
])
@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seeds_outside_what_numpy_takes_are_one_error(tmp_path, capsys, module, argv, seed):
    """numpy and scikit-learn take seeds in 0..2**32-1 only; anything else failed deep inside them."""
    main = importlib.import_module(module).main
    flag = argv[argv.index("{seed}") - 1]
    fails(capsys, main, [a.format(seed=seed, tmp=tmp_path) for a in argv], f"{flag} {seed}", "0 to 4294967295")
    assert not (tmp_path / "syn").exists()


@pytest.mark.parametrize("cls,flag,value,low", [
    (SearchConfig, "epochs", 0, 1), (SearchConfig, "batch_size", 1, 2), (SearchConfig, "layers", 0, 1),
    (SearchConfig, "nodes", 0, 1), (SearchConfig, "init_channels", 1, 2),
    (TrainConfig, "epochs", 0, 1), (TrainConfig, "batch_size", 1, 2), (TrainConfig, "num_classes", 1, 2),
])
def test_a_value_below_its_minimum_names_the_flag(cls, flag, value, low):
    with pytest.raises(UserError, match=f"^--{flag.replace('_', '-')} must be {low} or more \\(got {value}\\)$"):
        cls(**{flag: value}).validate()


def test_one_file_serves_every_command(tmp_path):
    """Shared keys go to the commands that have them (evaluate has no `data` or `seed`); a key no command has is
    still a typo."""
    shared = tmp_path / "all.yaml"
    shared.write_text("seed: 3\ndata: {image_size: [32, 32]}\nbatch_size: 8\nsearch: {epochs: 2}\n"
                      "evaluate: {threshold: 0.4}\n")
    evaluate_cfg, _ = parse_command(EvaluateConfig, ["--config", str(shared)], "", "evaluate", resumable=False)
    assert (evaluate_cfg.batch_size, evaluate_cfg.threshold) == (8, 0.4)
    search_cfg, _ = parse_command(SearchConfig, ["--config", str(shared)], "", "search")
    assert (search_cfg.seed, search_cfg.data.image_size, search_cfg.batch_size, search_cfg.epochs) == (
        3, [32, 32], 8, 2)
    shared.write_text("data: {image_size: [32, 32]}\nderive: {derive_images: 16}\n")  # derive has no data
    derive_cfg, _ = parse_command(DeriveConfig, ["RUN", "--config", str(shared)], "", "derive", resumable=False)
    assert derive_cfg.derive_images == 16
    shared.write_text("epoch: 3\n")
    for cls, section in ((EvaluateConfig, "evaluate"), (SearchConfig, "search")):
        with pytest.raises(UserError, match="unknown key.*epoch"):
            parse_command(cls, ["--config", str(shared)], "", section, resumable=False)
