"""User-facing errors: one clear line naming the file and the fix, never a traceback."""
from __future__ import annotations

import functools
import sys


class UserError(Exception):
    """Bad input from the user (a missing folder, a malformed file, an unknown name).

    The message must say what is wrong, which file or option it concerns, and how to fix it.
    Command-line entry points print it on one line and exit with status 2.
    """


class Diverged(UserError):
    """A loss, a score or an architecture weight became NaN or infinite: the run cannot go on."""


class Interrupted(Exception):
    """Ctrl-C during a run; the message names the run directory to resume."""


def cli_entry(fn):
    """Wrap a command's `main` so that UserError and Ctrl-C end the program with a message, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        except Interrupted as e:
            print(f"\n{e}", file=sys.stderr)
            sys.exit(130)
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper
