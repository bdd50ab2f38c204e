"""The command line of every command: defaults < `--config FILE` < flags, parsed by tyro from the config dataclass.

tyro builds the flags from the dataclass itself (docs/architecture.md says why tyro and not jsonargparse): every
field is a flag spelt with dashes (`--init-channels 8`), nested fields are dotted (`--data.image-size 64 64`), lists
take several values, booleans take true/false, and a string field takes the text exactly as typed. Help texts are
the fields' docstrings.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import textwrap

import tyro
from tyro.constructors import ConstructorRegistry, PrimitiveConstructorSpec, PrimitiveTypeInfo

from ..config import check_resumable, config_path, from_dict, read_yaml, validate
from ..errors import UserError
from ..runs import CONFIG, saved_config
from .sections import section_fields

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


def help_text(doc: str, extra: list[str]) -> str:
    """The description --help shows: the command's whole docstring (its synopsis and examples included), then the
    flags that are not config fields."""
    return textwrap.dedent(doc).strip() + ("\n\nalso:\n" + "\n".join(extra) if extra else "")


def parse_command(cls, argv, doc: str, section: str, resumable: bool = True, extra=None, prog: str | None = None):
    """The config of one command: defaults < `--config FILE` < command line; `--resume RUN_DIR` starts from that
    run's saved config.yaml instead of defaults and file. `extra(parser)` adds flags that are not config fields.

    Returns (config, namespace of --config, --resume and the extra flags).
    """
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", metavar="FILE", help="YAML config file, or the name of one shipped with darts-nexp "
                                                       f"(demo, smoke, ...): its shared keys and its '{section}:' "
                                                       f"section (defaults < file < command line)")
    if resumable:
        pre.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint, "
                                                             "with the config saved there")
    if extra:
        extra(pre)
    ns, rest = pre.parse_known_args(argv)
    lines = [f"  {', '.join(a.option_strings) or a.dest} {a.metavar or ''}: {a.help}".replace(" :", ":")
             for a in pre._actions]
    resume = getattr(ns, "resume", None)
    if resume and ns.config:
        raise UserError("--resume takes the config saved in the run directory; drop --config")
    if resume:
        values, where = saved_config(resume, section), f"{resume}/{CONFIG}"
    elif ns.config:
        path = config_path(ns.config)
        values, where = read_yaml(path, section, section_fields()), str(path)
    else:
        values, where = {}, "config"
    base = from_dict(cls, values, where)
    cfg = parse_args(cls, rest, help_text(doc, lines), base=base, prog=prog)
    if resume:
        cfg.out = resume  # the run continues where it is now, even if its folder was moved or copied
        check_resumable(cfg, base, getattr(cls, "RESUME_MAY_CHANGE", ()))
    return cfg, ns
