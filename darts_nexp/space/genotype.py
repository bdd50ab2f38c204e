"""Genotypes: the discrete cells DARTS derives from its architecture weights, and their YAML files.

A cell has two inputs (nodes 0 and 1: the outputs of the two previous cells) and `n` intermediate nodes 2..n+1.
Each intermediate node sums two operations, each applied to one earlier node; the cell outputs the concatenation
of the nodes listed in `concat`. A genotype holds one normal and one reduction cell. The file format is documented
in docs/genotypes.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from ..errors import UserError
from ..io import load_user_yaml, read_user_text, write_atomic
from .ops import PRIMITIVES
from .skeleton import edge_inputs

Edge = tuple[str, int]  # (operation name, index of the input node)


@dataclass(frozen=True)
class Genotype:
    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]
    name: str = ""
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def nodes(self) -> int:
        return len(self.normal) // 2

    @property
    def normal_skips(self) -> int:
        """skip_connect edges in the normal cell: the count DARTS collapses towards."""
        return sum(op == "skip_connect" for op, _ in self.normal)

    def changes_from(self, other: Genotype) -> int:
        """Edges (operation and input) of either cell that `other` does not have at the same node: how far a search
        moved its cell between two epochs. The order of a node's two edges does not count."""
        changed = 0
        for cell in ("normal", "reduce"):
            mine, theirs = getattr(self, cell), getattr(other, cell)
            for i in range(0, len(mine), 2):
                rest = list(theirs[i:i + 2])
                for edge in mine[i:i + 2]:
                    if edge in rest:
                        rest.remove(edge)
                    else:
                        changed += 1
        return changed

    def validate(self, where: str = "genotype") -> None:
        """Raise UserError naming the first problem: unknown op, bad input index, wrong edge count or concat."""
        for cell in ("normal", "reduce"):
            edges, concat = getattr(self, cell), getattr(self, cell + "_concat")
            if len(edges) == 0 or len(edges) % 2:
                raise UserError(f"{where}: '{cell}' has {len(edges)} edges; a cell needs exactly 2 per "
                                f"intermediate node (8 for the usual 4 nodes)")
            if len(edges) != len(self.normal):
                raise UserError(f"{where}: 'normal' has {len(self.normal)} edges but 'reduce' has {len(edges)}; "
                                f"both cells need the same number of nodes")
            for k, edge in enumerate(edges):
                if not (isinstance(edge, (list, tuple)) and len(edge) == 2):
                    raise UserError(f"{where}: {cell} edge {k} is {edge!r}; write each edge as [operation, input]")
                op, src = edge
                node = 2 + k // 2
                if op not in PRIMITIVES or op == "none":
                    valid = ", ".join(p for p in PRIMITIVES if p != "none")
                    raise UserError(f"{where}: {cell} edge {k} uses unknown operation {op!r}; valid: {valid}")
                if not isinstance(src, int) or isinstance(src, bool):
                    raise UserError(f"{where}: {cell} edge {k} (node {node}) takes input {src!r}, which is not a "
                                    f"whole number; write the input node's index, 0..{node - 1}")
                if not 0 <= src < node:
                    raise UserError(f"{where}: {cell} edge {k} (node {node}) takes input {src!r}; "
                                    f"node {node} may only take inputs 0..{node - 1}")
            last = 1 + len(edges) // 2
            if not concat or any(not isinstance(c, int) or isinstance(c, bool) or not 0 <= c <= last for c in concat):
                raise UserError(f"{where}: {cell}_concat {list(concat)!r} must list node indices in 0..{last}")

    # --- YAML ---
    def to_dict(self) -> dict:
        out = {"name": self.name} if self.name else {}
        for cell in ("normal", "reduce"):
            out[cell] = [[op, src] for op, src in getattr(self, cell)]
            out[cell + "_concat"] = list(getattr(self, cell + "_concat"))
        if self.meta:
            out["meta"] = dict(self.meta)
        return out

    @classmethod
    def from_dict(cls, d: dict, where: str = "genotype") -> Genotype:
        """A genotype from its mapping (a parsed YAML file or a checkpoint); UserError naming `where` and the field."""
        if d is None:
            raise UserError(f"{where} is empty; a genotype needs the keys normal and reduce "
                            f"(and optionally normal_concat, reduce_concat, name, meta): see docs/genotypes.md")
        if not isinstance(d, dict):
            raise UserError(f"{where}: expected a mapping with keys normal, normal_concat, reduce, reduce_concat "
                            f"(found {_kind(d)}); see docs/genotypes.md")
        missing = [k for k in ("normal", "reduce") if k not in d]
        if missing:
            raise UserError(f"{where}: missing key(s) {', '.join(missing)}; see docs/genotypes.md for the format")
        known = {"name", "normal", "normal_concat", "reduce", "reduce_concat", "meta"}
        unknown = sorted(str(k) for k in set(d) - known)
        if unknown:
            raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys are {', '.join(sorted(known))}")
        for cell in ("normal", "reduce"):
            if not isinstance(d[cell], list):
                raise UserError(f"{where}: '{cell}' must be a list of [operation, input] pairs "
                                f"(found {_kind(d[cell])})")
        n = len(d["normal"]) // 2
        concat = {}
        for key in ("normal_concat", "reduce_concat"):
            value = d.get(key)
            if value is None:  # absent, or written as `normal_concat:` with nothing after it
                value = list(range(2, 2 + n))
            if not isinstance(value, list):
                raise UserError(f"{where}: '{key}' must be a list of node indices such as "
                                f"{list(range(2, 2 + max(n, 1)))} (found {_kind(value)})")
            concat[key] = tuple(value)
        name = d.get("name")
        if name is not None and not isinstance(name, str):
            raise UserError(f"{where}: 'name' must be text (found {_kind(name)}); write it as name: \"...\"")
        meta = d.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise UserError(f"{where}: 'meta' must be a mapping such as {{source: ...}} (found {_kind(meta)}); "
                            f"drop it or write it as key: value lines")
        g = cls(
            normal=tuple(tuple(e) if isinstance(e, list) else e for e in d["normal"]),
            normal_concat=concat["normal_concat"],
            reduce=tuple(tuple(e) if isinstance(e, list) else e for e in d["reduce"]),
            reduce_concat=concat["reduce_concat"],
            name=name or "",
            meta=dict(meta or {}),
        )
        g.validate(where)
        return g

    def save(self, path: Path | str) -> Path:
        text = "# darts-nexp genotype: each edge is [operation, input node]; two edges per intermediate node\n"
        text += yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        return write_atomic(path, text)

    @classmethod
    def load(cls, path: Path | str) -> Genotype:
        """A genotype file, or by name one of the published genotypes that ship with darts-nexp (`darts_v2`)."""
        path = genotype_file(path)
        hint = "pass a genotype YAML file from genotypes/ or one written by darts-nexp search (see docs/genotypes.md)"
        text = read_user_text(path, "genotype file", hint)
        d = load_user_yaml(text, path, "fix that line (see docs/genotypes.md)")
        return cls.from_dict(d, where=str(path))


def genotype_file(path: Path | str) -> Path:
    """A genotype file as given, or by name (`darts_v2`) the file of a published genotype shipped with darts-nexp."""
    path = Path(path)
    if not path.exists() and path.name == str(path) and not path.suffix:
        published = resources.files("darts_nexp") / "genotypes" / f"{path}.yaml"
        if published.is_file():
            return Path(str(published))
    return path


def _kind(value) -> str:
    """A short description of a wrong value for messages: its type and (abridged) text."""
    if value is None:
        return "nothing"
    kinds = {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false"}
    text = repr(value)
    return f"{kinds.get(type(value), type(value).__name__)} {text[:60] + '...' if len(text) > 60 else text}"


def derive_genotype(alpha_normal, alpha_reduce, nodes: int = 4, name: str = "", meta: dict | None = None,
                    edge_normal=None, edge_reduce=None, max_skips: int | None = None) -> Genotype:
    """The argmax genotype of DARTS (section 2.4 of the paper).

    Each alpha is (edges, len(PRIMITIVES)), rows in the order of `edge_inputs`. For each node, incoming edges are
    ranked by their strongest non-`none` softmax weight and the top two are kept, each with its strongest non-`none`
    operation. With edge normalisation (PC-DARTS), `edge_normal` / `edge_reduce` are (edges,) weights that scale
    each edge's row before ranking. `max_skips` caps the skip connections of the normal cell (P-DARTS keeps 2):
    while there are more, the weakest chosen skip is barred and the cell derived again.
    """
    none, skip = PRIMITIVES.index("none"), PRIMITIVES.index("skip_connect")
    inputs = edge_inputs(nodes)

    def weights(alpha, edge) -> np.ndarray:
        w = np.asarray(alpha, dtype=np.float64)
        assert w.shape == (len(inputs), len(PRIMITIVES)), f"alpha shape {w.shape}, expected {(len(inputs), len(PRIMITIVES))}"
        w = np.exp(w - w.max(axis=1, keepdims=True))
        w = w / w.sum(axis=1, keepdims=True)
        if edge is not None:
            w = w * np.asarray(edge, dtype=np.float64)[:, None]
        w[:, none] = -np.inf
        return w

    def parse(w: np.ndarray) -> tuple[tuple[Edge, ...], list[int]]:
        """The cell's edges, and the alpha row each one came from."""
        edges, rows = [], []
        for node in range(2, 2 + nodes):
            mine = [r for r, (_, n) in enumerate(inputs) if n == node]
            # stable sort: ties keep the lower input index first
            best = sorted(mine, key=lambda r: -w[r].max())[:2]
            edges += [(PRIMITIVES[int(w[r].argmax())], inputs[r][0]) for r in best]
            rows += best
        return tuple(edges), rows

    w_normal = weights(alpha_normal, edge_normal)
    normal, rows = parse(w_normal)
    while max_skips is not None and sum(op == "skip_connect" for op, _ in normal) > max_skips:
        chosen = [r for (op, _), r in zip(normal, rows) if op == "skip_connect"]
        w_normal[min(chosen, key=lambda r: w_normal[r, skip]), skip] = -np.inf
        normal, rows = parse(w_normal)
    concat = tuple(range(2, 2 + nodes))
    return Genotype(normal, concat, parse(weights(alpha_reduce, edge_reduce))[0], concat, name=name,
                    meta=dict(meta or {}))
