"""Typed configuration: one dataclass per command, filled from defaults, then a YAML file, then the command line.

The command line is parsed by tyro (docs/architecture.md says why tyro and not jsonargparse): every field of the
dataclass is a flag spelt with dashes (`--init-channels 8`), nested fields are dotted (`--data.image-size 64 64`),
lists take several values, booleans take true/false, and a string field takes the text exactly as typed. Help
texts are the fields' docstrings.

A config file may hold fields of several commands: top-level keys shared by them (say `data:`), each taken by the
commands that have such a field, and one section per command (`search:`, `train:`, `evaluate:`, `explain:`,
`features:`, `ensemble:`) that only that command reads. A key that no command has is refused, so typos are caught.
YAML values are checked against the field types before anything runs. The resolved config is saved into every run
directory as `config.yaml`, from which `--resume` rebuilds it.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import io
import math
import typing
from pathlib import Path

import tyro
import typeguard
import yaml
from tyro.constructors import ConstructorRegistry, PrimitiveConstructorSpec, PrimitiveTypeInfo

from .errors import UserError, load_user_yaml, read_user_text

# Each command's section of a config file, and where its config class lives.
COMMAND_SECTIONS = {"search": "search.SearchConfig", "train": "train.TrainConfig",
                    "evaluate": "evaluate.EvaluateConfig", "explain": "explain.ExplainConfig",
                    "features": "features.FeaturesConfig", "ensemble": "ensemble.EnsembleConfig"}
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")

REGISTRY = ConstructorRegistry()


@REGISTRY.primitive_rule
def _bool_rule(info: PrimitiveTypeInfo):
    """Booleans as `--amp false`, case-insensitive, the way YAML writes them (tyro alone wants True/False)."""
    if info.type is not bool:
        return None

    def parse(args: list[str]) -> bool:
        text = args[0].lower()
        if text not in TRUE + FALSE:
            raise ValueError(f"expected true or false, got {args[0]!r}")
        return text in TRUE

    return PrimitiveConstructorSpec(nargs=1, metavar="{true,false}", instance_from_str=parse,
                                    is_instance=lambda x: isinstance(x, bool),
                                    str_from_instance=lambda x: ["true" if x else "false"])


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


def _fields_of_every_command() -> set[str]:
    classes = [getattr(importlib.import_module(f"darts_nexp.cli.{where.split('.')[0]}"), where.split(".")[1])
               for where in COMMAND_SECTIONS.values()]
    return {f.name for cls in classes for f in dataclasses.fields(cls)}


def read_yaml(path: Path | str, section: str | None = None, fields: set[str] | None = None) -> dict:
    """Read a config file: its shared top-level keys, then its `section` for this command on top. With `fields`
    (this command's), a shared key that this command lacks but another command has is left to that command."""
    path = Path(path)
    text = read_user_text(path, "config file", "pass a YAML config file to --config (configs/ has examples)")
    raw = load_user_yaml(text, path, "fix the file or pass another --config") or {}
    if not isinstance(raw, dict):
        raise UserError(f"{path} must hold a mapping of config keys, not {type(raw).__name__}")
    shared = {k: v for k, v in raw.items() if k not in COMMAND_SECTIONS and k != section}
    if fields is not None:
        others = _fields_of_every_command()
        shared = {k: v for k, v in shared.items() if k in fields or k not in others}
    mine = raw.get(section) or {}
    if not isinstance(mine, dict):
        raise UserError(f"{path}: section '{section}' must be a mapping of config keys")
    return _deep_update(shared, mine)


def parse_args(cls, argv, description: str, base=None, prog: str | None = None):
    """tyro over `cls`, with `base` (an instance) as the defaults; every section validated.

    tyro reports a malformed flag in a box of several lines; it is turned into the one `error:` line that every
    other bad input gets (UserError), naming the flag and the value.
    """
    box = io.StringIO()
    try:
        with contextlib.redirect_stderr(box):
            cfg = tyro.cli(cls, args=argv, default=base if base is not None else cls(), description=description,
                           prog=prog, registry=REGISTRY, config=(tyro.conf.FlagConversionOff,))
    except SystemExit as e:
        if e.code in (0, None):
            raise
        # The box: a title line, the message (one or more lines), then a rule and the flag's help text.
        problem = []
        for line in box.getvalue().splitlines()[1:]:
            text = line.strip("│╭╮╰╯─ \t")
            if not text or text.startswith(("Argument helptext", "For full helptext", "Similar")):
                break
            problem.append(text)
        problem = " ".join(problem) or "the command line could not be parsed"
        raise UserError(f"{problem.rstrip('.')}; see {prog or 'the command'} --help") from None
    validate(cfg)
    return cfg


def parse_command(cls, argv, description: str, section: str, resumable: bool = True, extra=None,
                  prog: str | None = None):
    """The config of one command: defaults < `--config FILE` < command line; `--resume RUN_DIR` starts from that
    run's saved config.yaml instead of defaults and file. `extra(parser)` adds flags that are not config fields.

    Returns (config, namespace of --config, --resume and the extra flags).
    """
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", metavar="FILE", help="YAML config file: its shared keys and its "
                                                       f"'{section}:' section (defaults < file < command line)")
    if resumable:
        pre.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint, "
                                                             "with the config saved there")
    if extra:
        extra(pre)
    ns, rest = pre.parse_known_args(argv)
    lines = [f"  {', '.join(a.option_strings) or a.dest} {a.metavar or ''}: {a.help}".replace(" :", ":")
             for a in pre._actions]
    description = f"{description}\n\nalso:\n" + "\n".join(lines)
    resume = getattr(ns, "resume", None)
    if resume and ns.config:
        raise UserError("--resume takes the config saved in the run directory; drop --config")
    if resume:
        from .runs import saved_config  # the run format owns where a run keeps its config

        values, where = saved_config(resume, section), f"{resume}/config.yaml"
    elif ns.config:
        values, where = read_yaml(ns.config, section, {f.name for f in dataclasses.fields(cls)}), str(ns.config)
    else:
        values, where = {}, "config"
    base = from_dict(cls, values, where)
    cfg = parse_args(cls, rest, description, base=base, prog=prog)
    if resume:
        cfg.out = resume  # the run continues where it is now, even if its folder was moved or copied
        _check_resumable(cfg, base, getattr(cls, "RESUME_MAY_CHANGE", ()))
    return cfg, ns


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


def _check_resumable(cfg, saved, may_change: tuple[str, ...]) -> None:
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
