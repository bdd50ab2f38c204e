"""darts-nexp: find, train and check neural architectures for visual defect inspection (DARTS, Liu et al., 2018).

Each command is a module of this package with a `main(argv)`; this one only picks it.
"""
from __future__ import annotations

import sys
import textwrap

from ..version import __version__
from ..errors import UserError
from . import (data, derive, ensemble, evaluate, explain, export, features, latency, latency_table, protocol, render,
               report, sample, search, train)
from .entry import cli_entry

# In the order a user meets them.
COMMANDS = {"search": search, "derive": derive, "train": train, "evaluate": evaluate, "export": export, "latency": latency,
            "latency-table": latency_table, "explain": explain, "features": features, "ensemble": ensemble,
            "report": report, "protocol": protocol, "sample": sample, "render": render, "data": data}


def summary(module) -> str:
    """A command's one-line description: the first sentence of its docstring, after its name."""
    first = " ".join(module.__doc__.split("\n\n")[0].split())
    return first.split(": ", 1)[1]


def overview() -> str:
    lines = [__doc__.splitlines()[0], "", "usage: darts-nexp COMMAND [--help] [ARGS ...]", "", "commands:"]
    width = 2 + max(map(len, COMMANDS))
    lines += [textwrap.fill(summary(module), 118, initial_indent=f"  {name:{width}s}",
                            subsequent_indent=" " * (width + 2)) for name, module in COMMANDS.items()]
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
    return COMMANDS[name].main(rest)


def console() -> None:
    """The `darts-nexp` console script: what a command returns is for Python callers, not an exit status."""
    main()
