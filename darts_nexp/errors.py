"""User-facing errors: one clear line naming the file and the fix, never a traceback (cli/entry.py prints them)."""
from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (a missing folder, a malformed file, an unknown name).

    The message must say what is wrong, which file or option it concerns, and how to fix it.
    Command-line entry points print it on one line and exit with status 2.
    """
    # Under torchrun: whether every rank meets this error alike, as they meet bad input, so that rank 0 alone
    # reports it (cli/entry.py). An error of one rank's own share or device is reported by each rank that meets it.
    every_rank = True


class RankError(UserError):
    """Bad input that one rank under torchrun meets alone (the GPU it was given)."""
    every_rank = False


class Diverged(UserError):
    """A loss, a score or an architecture weight became NaN or infinite: the run cannot go on."""
    every_rank = False  # a rank's own share of a batch can diverge alone


class Interrupted(Exception):
    """Ctrl-C during a run; the message names the run directory to resume."""
