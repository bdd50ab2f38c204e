"""Typed configuration: one dataclass per command, filled from defaults, then a YAML file, then the command line.

A config file may hold fields of several commands: top-level keys shared by all of them (say `data:`) and one
section per command (`search:`, `train:`) that only that command reads. Every leaf field is also a command-line
flag: `--data.image-size 64 64` for a nested field, `--epochs 3` for a top-level one, and the short alias a field
declares in its metadata (`field(metadata={"flag": "--dataset"})`). The resolved config is written to every run
directory as `config.yaml`, from which `--resume` rebuilds it.
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path

import yaml

from .errors import UserError

COMMAND_SECTIONS = ("search", "train", "evaluate")


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def save_config(cfg, path: Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def _strip_optional(tp):
    """Optional[X] -> (X, True); X -> (X, False)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _coerce(value, tp, where: str):
    """Check and convert a YAML or command-line value to the field's declared type."""
    tp, optional = _strip_optional(tp)
    if value is None:
        if optional:
            return None
        raise UserError(f"{where}: a value is required here (got null)")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return from_dict(tp, value, where)
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else object
        out = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if typing.get_origin(tp) is typing.Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise UserError(f"{where}: {value!r} is not one of {', '.join(map(str, choices))}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise UserError(f"{where}: expected true or false, got {value!r}")
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, (str, int, float)):
        return str(value)
    if tp in (int, float) and isinstance(value, str):
        try:
            return tp(value)
        except ValueError:
            pass
    if tp is object:
        return value
    raise UserError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def from_dict(cls, values: dict, where: str = "config"):
    """Build `cls` from defaults overridden by `values`, rejecting unknown keys with the list of valid ones."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys are {', '.join(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        if dataclasses.is_dataclass(_strip_optional(hints[f.name])[0]) and isinstance(value, dict):
            # A partial mapping updates the nested defaults instead of replacing them.
            base = to_dict(getattr(cls(), f.name))
            value = _deep_update(base, value)
        kwargs[f.name] = _coerce(value, hints[f.name], f"{where}.{f.name}")
    cfg = cls(**kwargs)
    check = getattr(cfg, "validate", None)
    if check:
        check()
    return cfg


def _deep_update(base: dict, new: dict) -> dict:
    out = dict(base)
    for k, v in new.items():
        out[k] = _deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_yaml(path: Path | str, section: str | None = None) -> dict:
    """Read a config file: its shared top-level keys, then its `section` for this command on top."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} not found; pass an existing YAML file to --config")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{path} is not valid YAML ({str(e).splitlines()[0]}); fix the file or pass another --config")
    if not isinstance(raw, dict):
        raise UserError(f"{path} must hold a mapping of config keys, not {type(raw).__name__}")
    shared = {k: v for k, v in raw.items() if k not in COMMAND_SECTIONS}
    mine = raw.get(section) or {}
    if not isinstance(mine, dict):
        raise UserError(f"{path}: section '{section}' must be a mapping")
    return _deep_update(shared, mine)


def _leaf_fields(cls, prefix=""):
    """Yield (dotted name, type, field) for every non-dataclass field, recursing into nested configs."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = _strip_optional(hints[f.name])[0]
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            yield from _leaf_fields(tp, name + ".")
        else:
            yield name, hints[f.name], f


def _set_dotted(d: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        d = d.setdefault(p, {})
    d[last] = value


def _cli_value(text: str):
    """Parse one command-line value as YAML, so that `null`, `true`, `0.1` and `[64, 64]` mean what they say."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def build_parser(cls, description: str, extra=None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", metavar="FILE", help="YAML config file (defaults < file < command line)")
    if extra:
        extra(parser)
    defaults = cls()
    for dotted, tp, f in _leaf_fields(cls):
        flags = ["--" + dotted.replace("_", "-")]
        alias = f.metadata.get("flag")
        if alias and alias not in flags:
            flags.insert(0, alias)
        default = defaults
        for part in dotted.split("."):
            default = getattr(default, part)
        is_list = typing.get_origin(_strip_optional(tp)[0]) in (list, tuple)
        parser.add_argument(*flags, dest="cfg:" + dotted, metavar="V", type=_cli_value, default=None,
                            nargs="+" if is_list else None,
                            help=f"{f.metadata.get('help', '')} (default: {default!r})".strip())
    return parser


def parse_config(cls, argv, description: str, section: str, extra=None, base: dict | None = None):
    """Parse argv into (config, namespace). `base` replaces defaults+file (used by --resume)."""
    parser = build_parser(cls, description, extra)
    ns = parser.parse_args(argv)
    values = dict(base) if base is not None else (read_yaml(ns.config, section) if ns.config else {})
    overrides: dict = {}
    for key, value in vars(ns).items():
        if key.startswith("cfg:") and value is not None:
            if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
                value = value[0]
            _set_dotted(overrides, key[4:], value)
    cfg = from_dict(cls, _deep_update(values, overrides), where=str(ns.config or "config"))
    return cfg, ns


def parse_run_config(cls, argv, description: str, section: str, extra=None):
    """parse_config for a command whose runs can be resumed: `--resume RUN_DIR` starts from that run's saved
    config.yaml instead of defaults and file, and the run continues in RUN_DIR. Returns (config, namespace)."""

    def flags(parser):
        parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
        if extra:
            extra(parser)

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--resume")
    resume = pre.parse_known_args(argv)[0].resume
    base = None
    if resume:
        saved = Path(resume) / "config.yaml"
        if not saved.is_file():
            raise UserError(f"--resume {resume}: no config.yaml there; pass the folder of an earlier {section} run")
        base = read_yaml(saved, section)
    cfg, ns = parse_config(cls, argv, description, section, extra=flags, base=base)
    if resume:
        cfg.out = resume
    return cfg, ns
