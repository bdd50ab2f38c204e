"""User-facing errors: one clear line naming the file and the fix, never a traceback."""
from __future__ import annotations

import codecs
import functools
import os
import sys
from pathlib import Path

import yaml


class UserError(Exception):
    """Bad input from the user (a missing folder, a malformed file, an unknown name).

    The message must say what is wrong, which file or option it concerns, and how to fix it.
    Command-line entry points print it on one line and exit with status 2.
    """


class Diverged(UserError):
    """A loss, a score or an architecture weight became NaN or infinite: the run cannot go on."""


class Interrupted(Exception):
    """Ctrl-C during a run; the message names the run directory to resume."""


def read_user_text(path: Path | str, what: str, hint: str) -> str:
    """The UTF-8 text of a file the user named (a config, a genotype, a CSV), or one UserError that says why it
    cannot be read: a folder, missing, unreadable, or not UTF-8 (with the line of the first bad byte)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a {what}; {hint}")
    if not path.exists():
        raise UserError(f"{what} {path} not found; {hint}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {what} {path} ({e.strerror or e}); make it readable or {hint}") from None
    if data.startswith(codecs.BOM_UTF8):  # spreadsheets and some editors start UTF-8 files with a byte-order mark
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"{path} is not UTF-8 text (byte 0x{data[e.start]:02x} on line {line}); save the {what} as "
                        f"UTF-8, or {hint}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, but a key given twice in one mapping is an error rather than silently the last value."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *common`: a merged key that is then written out again overrides it, as YAML means
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: let SafeLoader report it
                break
            if repeated:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"key {key!r} given twice", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(e: yaml.YAMLError, text: str) -> str:
    """A YAML error on one line: the problem and where it is."""
    problem, mark = getattr(e, "problem", None), getattr(e, "problem_mark", None)
    if isinstance(e, yaml.reader.ReaderError):
        line = text[: e.position].count("\n") + 1
        return f"character {chr(e.character)!r} is not allowed in YAML text, at line {line}"
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(e).split())


def load_user_yaml(text: str, path: Path | str, hint: str):
    """The YAML document in `text` (read from `path`), or one UserError naming the line, then `hint`. A key given
    twice in one mapping is refused rather than silently taken at its last value."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        raise UserError(f"{path} is not valid YAML ({_yaml_problem(e, text)}); {hint}") from None


def _out_of_memory(e: BaseException) -> bool:
    """Whether `e` says the host or the GPU ran out of memory (torch reports both as RuntimeError)."""
    text = str(e).lower()
    return isinstance(e, MemoryError) or "out of memory" in text or "can't allocate memory" in text


def cli_entry(fn):
    """Wrap a command's `main` so that UserError, a denied permission, running out of memory and Ctrl-C end the
    program with one message, and a closed output pipe quietly, never with a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            try:
                return fn(*args, **kwargs)
            finally:
                sys.stdout.flush()  # here, so that a closed pipe is caught below rather than at interpreter exit
        except BrokenPipeError:
            # The reader stopped early (`search.py --help | head`): nothing is wrong. Point stdout at /dev/null,
            # or Python's last flush on exit would fail again and print a traceback.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except UserError as e:
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
