"""darts-nexp: find, train and check neural architectures for visual defect inspection (DARTS, Liu et al., 2018).

Each command is a module of this package with a `main(argv)`; this one only picks it.
"""
from __future__ import annotations

import ast
import importlib
import sys
import textwrap
from pathlib import Path

from ..version import __version__
from ..errors import UserError
from .entry import cli_entry

# In the order a user meets them: each command's module in this package. A command's module is imported only when
# it runs: together they load the whole engine and torchvision, seconds that `darts-nexp --help` need not wait for,
# so the overview reads their docstrings from the source.
COMMANDS = {"search": "search", "derive": "derive", "train": "train", "evaluate": "evaluate", "export": "export",
            "latency": "latency", "latency-table": "latency_table", "explain": "explain", "features": "features",
            "ensemble": "ensemble", "report": "report", "protocol": "protocol", "sample": "sample", "render": "render",
            "data": "data"}


def summary(name: str) -> str:
    """A command's one-line description: the first sentence of its module's docstring, after its name."""
    source = Path(__file__).with_name(f"{COMMANDS[name]}.py").read_text(encoding="utf-8")
    first = " ".join(ast.get_docstring(ast.parse(source)).split("\n\n")[0].split())
    return first.split(": ", 1)[1]


def overview() -> str:
    lines = [__doc__.splitlines()[0], "", "usage: darts-nexp COMMAND [--help] [ARGS ...]", "", "commands:"]
    width = 2 + max(map(len, COMMANDS))
    lines += [textwrap.fill(summary(name), 118, initial_indent=f"  {name:{width}s}",
                            subsequent_indent=" " * (width + 2)) for name in COMMANDS]
    lines += ["", "examples:", "  darts-nexp search --config demo   # the demo's search, on built-in synthetic images",
              "  darts-nexp train --config demo --genotype genotypes/synthetic.yaml",
              "  darts-nexp evaluate runs/train-20261206-101500 --data-dir /data/line-3/today",
              "", "`darts-nexp COMMAND --help` shows a command's flags; docs/ explains every command."]
    return "\n".join(lines)


@cli_entry
def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(overview())
        return None
    if argv[0] == "--version":
        print(f"darts-nexp {__version__}")
        return None
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        raise UserError(f"unknown command {name!r}; the commands are {', '.join(COMMANDS)} (darts-nexp --help)")
    return importlib.import_module(f".{COMMANDS[name]}", __package__).main(rest)


def console() -> None:
    """The `darts-nexp` console script: what a command returns is for Python callers, not an exit status."""
    main()
