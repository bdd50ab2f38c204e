"""Typed configuration: one dataclass per command, filled from its defaults, then a YAML file, then the command line
(cli/parse.py adds the command line, with tyro).

A config file may hold fields of several commands: top-level keys shared by them (say `data:`), each taken by the
commands that have such a field, and one section per command (`search:`, `train:`, `evaluate:`, ...) that only that
command reads. A key that no command has is refused, so typos are caught; one that only other commands have is left
to them with a note, since the file may be meant for them too. YAML values are checked against the field
types before anything runs. The resolved config is saved into every run directory as `config.yaml`, from which
`--resume` rebuilds it.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import typing
from importlib import resources
from pathlib import Path

import typeguard
import tyro
import yaml

from .errors import UserError
from .io import load_user_yaml, read_user_text

log = logging.getLogger("darts_nexp.config")

# The mark of a field whose help says what its default means (`threads`: one per CPU), so that --help does not add
# "(default: None)" after it.
DEFAULT_IN_HELP = tyro.conf.arg(help_behavior_hint="")

def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def _describe(tp) -> str:
    if typing.get_origin(tp) is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    if typing.get_origin(tp) is typing.Union:
        return " or ".join("null" if a is type(None) else _describe(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check_leaf(value, tp, where: str):
    """The YAML value, checked against the field's type; ints are accepted for floats."""
    try:
        if isinstance(value, bool) and tp in (int, float):
            raise typeguard.TypeCheckError("a boolean is not a number")
        typeguard.check_type(value, tp, collection_check_strategy=typeguard.CollectionCheckStrategy.ALL_ITEMS)
    except typeguard.TypeCheckError:
        hint = " (quote it in YAML to keep it as text)" if tp in (str, typing.Optional[str]) else ""
        raise UserError(f"{where}: expected {_describe(tp)}, got {value!r}{hint}") from None
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def from_dict(cls, values, where: str = "config", keys: str = ""):
    """Build `cls` from its defaults overridden by `values` (a partial mapping updates nested defaults). Messages
    name `where` (the file) and the dotted key (`keys` is the prefix of this section's keys)."""
    at = f"{where}: {keys.rstrip('.')}" if keys else where
    if not isinstance(values, dict):
        raise UserError(f"{at}: expected a mapping of {cls.__name__} fields, got {values!r}")
    hints = typing.get_type_hints(cls, include_extras=False)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names), key=str)
    if unknown:
        raise UserError(f"{at}: unknown key(s) {', '.join(map(str, unknown))}; valid keys are {', '.join(names)}")
    kwargs = {}
    for name in names:
        if name not in values:
            continue
        tp, value = hints[name], values[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = from_dict(tp, value, where, f"{keys}{name}.")
        else:
            kwargs[name] = _check_leaf(value, tp, f"{where}: {keys}{name}")
    return cls(**kwargs)


SEED_MAX = 2**32 - 1  # numpy's and scikit-learn's seeds are unsigned 32-bit integers


def validate(cfg, prefix: str = "") -> None:
    """Run every `validate()` of the config tree, inner sections first, after checking every `seed` field's range
    (`prefix`: the dotted flag name of the section)."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            validate(value, f"{prefix}{f.name}.")
        elif f.name == "seed" and isinstance(value, int) and not 0 <= value <= SEED_MAX:
            raise UserError(f"--{prefix}seed {value}: seeds must be whole numbers from 0 to {SEED_MAX}")
    check = getattr(cfg, "validate", None)
    if check:
        check()


def check_at_least(cfg, **minimum: int) -> None:
    """Refuse the first setting below its minimum, naming its flag and value."""
    for name, low in minimum.items():
        value = getattr(cfg, name)
        if value < low:
            raise UserError(f"--{name.replace('_', '-')} must be {low} or more (got {value})")


def check_recompute(cfg) -> None:
    """--grad-checkpointing with --compile: dynamo refuses a checkpoint whose recomputation runs in a context of
    ours (the one that keeps BatchNorm's statistics from updating twice), so the combination stops at the first
    step with an internal error. Refused here, before anything runs."""
    if cfg.grad_checkpointing and cfg.compile:
        raise UserError("--grad-checkpointing and --compile do not work together (torch.compile cannot trace the "
                        "recomputation); drop one of them: --compile for speed, --grad-checkpointing for memory")


def check_optimiser(cfg, positive: tuple[str, ...], at_least_zero: tuple[str, ...]) -> None:
    """The numeric ranges every optimiser setting shares: finite, `positive` ones > 0, `at_least_zero` ones >= 0,
    and a momentum (when the config has one) in [0, 1)."""
    for name in positive + at_least_zero:
        value = getattr(cfg, name)
        low_ok = value > 0 if name in positive else value >= 0
        if not (low_ok and math.isfinite(value)):
            bound = "> 0" if name in positive else ">= 0"
            raise UserError(f"--{name.replace('_', '-')} must be a finite number {bound} (got {value})")
    momentum = getattr(cfg, "momentum", 0.0)
    if not 0 <= momentum < 1:
        raise UserError(f"--momentum must be in [0, 1) (got {momentum})")


def _deep_update(base: dict, new: dict) -> dict:
    out = dict(base)
    for k, v in new.items():
        out[k] = _deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def packaged_config(name: str) -> Path | None:
    """The config shipped with darts-nexp under `name` (`demo`, `smoke`, `protocol-cpu`, ...), None if there is none."""
    path = resources.files("darts_nexp") / "configs" / f"{name}.yaml"
    return Path(str(path)) if path.is_file() else None


def config_path(name: str) -> Path:
    """A `--config` value: a file, or the name of a config shipped with darts-nexp."""
    path = Path(name)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in name:
        return path
    packaged = packaged_config(name)
    if packaged is None:
        shipped = sorted(p.name[:-5] for p in (resources.files("darts_nexp") / "configs").iterdir()
                         if p.name.endswith(".yaml"))
        raise UserError(f"--config {name}: no such file, and no config of that name ships with darts-nexp "
                        f"({', '.join(shipped)}); pass a YAML file or one of those names")
    return packaged


def read_yaml(path: Path | str, section: str | None = None, commands: dict[str, set[str]] | None = None) -> dict:
    """Read a config file: its shared top-level keys, then its `section` for this command on top. `commands` maps
    every command's section name to the fields of its config, dotted at every depth (`data`, `data.data_dir`): a
    shared key that this command lacks but another command has is left to that command, with a note, and the other
    commands' sections are skipped."""
    path = Path(path)
    text = read_user_text(path, "config file", "pass a YAML config file to --config, or the name of a shipped one "
                                               "(demo, smoke, protocol-cpu)")
    raw = load_user_yaml(text, path, "fix the file or pass another --config") or {}
    if not isinstance(raw, dict):
        raise UserError(f"{path} must hold a mapping of config keys, not {type(raw).__name__}")
    commands = commands or {}
    shared = {k: v for k, v in raw.items() if k not in commands and k != section}
    if section in commands:
        # A dotted key (`data.data_dir:`) is no command's, however its name reads: from_dict refuses it as unknown.
        users = {k: [c for c, names in commands.items() if k in names] for k in shared
                 if k not in commands[section] and "." not in str(k)}
        theirs = {k: found for k, found in users.items() if found}
        if theirs:
            log.warning(f"note: {path}: darts-nexp {section} ignores the top-level " + ", ".join(
                _taken_by(k, found, section, commands[section]) for k, found in theirs.items()))
        shared = {k: v for k, v in shared.items() if k not in theirs}
    mine = raw.get(section) or {}
    if not isinstance(mine, dict):
        raise UserError(f"{path}: section '{section}' must be a mapping of config keys")
    return _deep_update(shared, mine)


def _taken_by(key: str, users: list[str], section: str, mine: set[str]) -> str:
    """How read_yaml's note names a top-level key that only the commands `users` take, with the setting of that name
    that `section` has deeper down when it has exactly one (`data_dir` -> `data.data_dir`)."""
    own = [name for name in mine if name.endswith(f".{key}")]
    return f"{key} (taken by {', '.join(users)}" + (f"; {section} takes {own[0]}" if len(own) == 1 else "") + ")"


def _leaves(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def differences(now: dict, before: dict) -> dict[str, tuple]:
    """Dotted name -> (value now, value before) of every setting of the config mapping `now` that `before` lacks or
    holds otherwise (mappings as to_dict gives them)."""
    a, b = _leaves(now), _leaves(before)
    return {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}


def check_resumable(cfg, saved, may_change: tuple[str, ...]) -> None:
    """A resumed run continues the saved one: only the settings in `may_change` (and `out`) may differ, since the
    others shape the network, its optimisers or its schedules, which the checkpoint fixes."""
    changed = {k: v for k, v in differences(to_dict(cfg), to_dict(saved)).items()
               if k != "out" and k not in may_change}
    if changed:
        shown = ", ".join(f"--{k.replace('_', '-')} {now} (the run has {before})"
                          for k, (now, before) in changed.items())
        allowed = ", ".join(f"--{k.replace('_', '-')}" for k in may_change)
        raise UserError(f"{shown} cannot change on --resume: the checkpoint was made with the run's settings; "
                        f"start a new run to change it (--resume takes only {allowed})")
