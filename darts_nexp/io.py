"""Reading and writing files safely: atomic writes (a failed one raises WriteFailed, one message), the text and
YAML of files a user names, and folder locks.

This module imports nothing of darts-nexp's but its errors, so that every layer may use it.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import errno
import fcntl
import io
import os
import shutil
from pathlib import Path
from typing import Iterator

import yaml

from .errors import UserError


def _free_space(path: Path) -> str:
    """The space left on the file system of `path` (of its nearest existing folder)."""
    folder = next((p for p in path.parents if p.is_dir()), Path("."))
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown space"
    if free >= 2**30:
        return f"{free / 2**30:.1f} GiB"
    return f"{free / 2**20:.1f} MiB" if free >= 2**20 else f"{free / 2**10:.0f} KiB"


class WriteFailed(UserError):
    """A file could not be written: a full disk or quota, a read-only file system or folder, an I/O error.

    `problem` names the file, the reason and the space left; `remedy` says what to change. The message adds "run the
    command again"; a caller that knows what was kept (a run's last checkpoint) says so with `problem` instead, and
    one whose user may as well write elsewhere offers that too (`or_else`).
    """

    def __init__(self, path: Path, error: OSError):
        path = Path(path)
        self.problem = f"cannot write {path} ({error.strerror or error}; {_free_space(path)} free on its file system)"
        full = error.errno in (errno.ENOSPC, errno.EDQUOT)
        self.remedy = "free space" if full else f"make {path.parent} writable"
        super().__init__(f"{self.problem}; {self.remedy} and run the command again")

    def or_else(self, choice: str) -> UserError:
        """The message for a command whose user may as well write elsewhere: the remedy, or `choice`."""
        return UserError(f"{self.problem}; {self.remedy}, or {choice}")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name next to `path` (its folder made when missing), for a writer that takes a file name; when the
    block ends the file replaces `path` whole. On any failure the temporary file is removed and `path` left as it
    was; an OSError becomes one WriteFailed that names `path`."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    failed = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        failed = e
    finally:
        with contextlib.suppress(OSError):  # a folder made read-only keeps it; the next write replaces it
            tmp.unlink(missing_ok=True)
    if failed is not None:  # after the removal, so that the space it took counts as free
        raise WriteFailed(path, failed)


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write a file so that readers see the old or the new content, never half of it."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)


def write_csv(path: Path, header: list[str], rows) -> Path:
    """Write a CSV file (a header row, then `rows`) atomically."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_atomic(path, text.getvalue())


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


LOCK = ".lock"


def lock_folder(folder: Path, wait: bool = True):
    """An exclusive lock on `folder` through its `.lock` file, which records the holder's pid: the open file, whose
    closing releases the lock, as does the end of the process however it ends (flock). With `wait` False, None
    rather than waiting while another process holds it. A lock file that cannot be made or written (a full disk,
    a read-only folder) is one WriteFailed."""
    path = Path(folder) / LOCK
    try:
        lock = open(path, "a+")  # not "w": that would wipe the pid of a holder before we know of it
    except OSError as e:
        raise WriteFailed(path, e) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        lock.close()
        return None
    except OSError as e:  # a file system without locks (some network ones)
        lock.close()
        raise WriteFailed(path, e) from None
    try:
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
    except OSError as e:
        with contextlib.suppress(OSError):  # closing flushes the pid again, into the same full disk
            lock.close()
        raise WriteFailed(path, e) from None
    return lock


def lock_holder(folder: Path) -> str:
    """The pid that the holder of `folder`'s lock recorded ("" when there is none to read)."""
    try:
        return (Path(folder) / LOCK).read_text().strip()
    except OSError:
        return ""
