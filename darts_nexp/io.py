"""Reading and writing files safely: atomic writes, and the text and YAML of files a user names.

This module imports nothing of darts-nexp's but its errors, so that every layer may use it.
"""
from __future__ import annotations

import codecs
import os
from pathlib import Path

import yaml

from .errors import UserError


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write a file so that readers see the old or the new content, never half of it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
    return path


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
