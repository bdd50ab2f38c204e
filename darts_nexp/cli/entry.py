"""The wrapper of every command's `main`: bad input, a denied permission, running out of memory and Ctrl-C end the
program with one message, never a traceback."""
from __future__ import annotations

import functools
import logging
import os
import sys

from ..errors import Interrupted, UserError
from ..launcher import launch_rank


def _out_of_memory(e: BaseException) -> bool:
    """Whether `e` says the host or the GPU ran out of memory (torch reports both as RuntimeError)."""
    text = str(e).lower()
    return isinstance(e, MemoryError) or "out of memory" in text or "can't allocate memory" in text


def cli_entry(fn):
    """Wrap a command's `main` so that UserError, a denied permission, running out of memory and Ctrl-C end the
    program with one message, and a closed output pipe quietly, never with a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        # Under torchrun every rank reads the same input: rank 0 alone says what is wrong with it (errors, warnings
        # and notes), so that the log reads as one run's; the others exit with the same status.
        main_rank = launch_rank() == 0
        if not main_rank:
            logging.getLogger("darts_nexp").setLevel(logging.ERROR)
        try:
            try:
                return fn(*args, **kwargs)
            finally:
                sys.stdout.flush()  # here, so that a closed pipe is caught below rather than at interpreter exit
        except BrokenPipeError:
            # The reader stopped early (`darts-nexp search --help | head`): nothing is wrong. Point stdout at /dev/null,
            # or Python's last flush on exit would fail again and print a traceback.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except UserError as e:
            if main_rank or not e.every_rank:
                print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        except PermissionError as e:  # from any file or folder the command touches: name it rather than trace it
            print(f"error: permission denied: {e.filename or e}; make it readable (and writable, where the command "
                  f"writes), or pass another path", file=sys.stderr)
            sys.exit(2)
        except (MemoryError, RuntimeError) as e:
            if not _out_of_memory(e):
                raise
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"error: out of memory ({first[:200]}); lower --batch-size, or the size of the images or of the "
                  f"network", file=sys.stderr)
            sys.exit(2)
        except Interrupted as e:
            print(f"\n{e}", file=sys.stderr)
            sys.exit(130)
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper
