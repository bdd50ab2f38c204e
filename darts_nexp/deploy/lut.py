"""A latency table of the search space: what each operation on each edge of a cell costs in the final network,
measured on the target device (ProxylessNAS and FBNet measure their lookup tables the same way, darts-facts §11).

The final network has several normal and several reduction cells at different sizes; each operation of the space
is timed once per distinct (channels, height, width, stride) it meets there, at batch 1, and the times are summed
over the cells of each type. So `table["normal"][e][k]` is what choosing op k on edge e of the normal cell costs
the whole network, in ms, and a genotype's predicted latency is the sum over its chosen edges (the stem, the cell
inputs' preprocessing and the classifier are the same for every cell, and left out). A search penalises the
expected latency, the softmax of the alphas times the table (engine/search.py).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import yaml

from ..errors import UserError
from ..io import load_user_yaml, read_user_text, write_atomic
from ..runs import COMMANDS
from ..space import PRIMITIVES, Genotype, auto_stem, create_op, edge_inputs, edge_stride, first_cell_size, plan_cells
from .latency import machine, median_seconds

FORMAT = 1


def network_plan(image_size, stem: str, layers: int, init_channels: int, stem_multiplier: int, nodes: int) -> dict:
    """The final network a table describes, as tables, genotypes and trainings record it (stem "auto" resolved)."""
    return {"image_size": list(image_size), "stem": auto_stem(image_size) if stem == "auto" else stem,
            "layers": layers, "init_channels": init_channels, "stem_multiplier": stem_multiplier, "nodes": nodes}


def cell_sizes(plan: dict) -> list[tuple[bool, int, tuple[int, int], tuple[int, int]]]:
    """(reduction, C, input (H, W), node (H, W)) of every cell of the final network `plan` describes."""
    h, w = first_cell_size(plan["stem"], plan["image_size"])
    out = []
    for spec in plan_cells(plan["layers"], plan["init_channels"], plan["stem"], plan["stem_multiplier"],
                           plan["nodes"]):
        inp = (h, w)
        if spec.reduction:
            h, w = -(-h // 2), -(-w // 2)
        out.append((spec.reduction, spec.C, inp, (h, w)))
    return out


@torch.no_grad()
def op_ms(name: str, C: int, size: tuple[int, int], stride: int, device: torch.device, repeats: int) -> float:
    """Median milliseconds of one op (eval mode, affine BatchNorm as in the final network) at batch 1."""
    if name == "none":
        return 0.0  # never part of a genotype
    op = create_op(name, C, stride, affine=True).to(device).eval()
    x = torch.randn(1, C, *size, device=device)
    return round(1000 * median_seconds(lambda: op(x), device, warmup=3, repeats=repeats, budget_s=2.0), 5)


def measure(plan: dict, device: torch.device, repeats: int = 20, progress=print) -> dict:
    """The table of the final network `plan` describes: {"normal", "reduce"} -> (edges, ops) ms, and the timings
    per shape it was summed from."""
    nodes, cache = plan["nodes"], {}
    tables = {cell: [[0.0] * len(PRIMITIVES) for _ in edge_inputs(nodes)] for cell in ("normal", "reduce")}
    for reduction, C, inp, node in cell_sizes(plan):
        cell = "reduce" if reduction else "normal"
        for e, (src, _) in enumerate(edge_inputs(nodes)):
            stride = edge_stride(reduction, src)
            key = (C, *(inp if stride == 2 else node), stride)
            if key not in cache:
                progress(f"timing {len(PRIMITIVES) - 1} ops at {C}x{key[1]}x{key[2]}, stride {stride}")
                cache[key] = [op_ms(op, C, key[1:3], stride, device, repeats) for op in PRIMITIVES]
            tables[cell][e] = [round(a + b, 5) for a, b in zip(tables[cell][e], cache[key])]
    return {"format": FORMAT, "device": device.type, "machine": machine(device), "batch": 1, "plan": plan,
            "ops": list(PRIMITIVES), **tables,
            "shapes": [{"channels": k[0], "size": list(k[1:3]), "stride": k[3], "ms": dict(zip(PRIMITIVES, v))}
                       for k, v in cache.items()]}


def cache_path(plan: dict, device: torch.device) -> Path:
    """Where the table of this plan on this machine is kept, so that it is measured once."""
    key = json.dumps({"plan": plan, "machine": machine(device), "device": device.type}, sort_keys=True)
    return Path.home() / ".cache" / "darts-nexp" / "latency" / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.yaml"


def save(table: dict, path: Path) -> Path:
    return write_atomic(path, yaml.safe_dump(table, sort_keys=False, default_flow_style=None))


def load(path: Path | str, device: str, image_size: list[int], nodes: int) -> dict:
    """A table file, refused (one message naming the file) when it was made for another device, image size, set
    of ops or number of nodes, by a newer darts-nexp, or is damaged."""
    path = Path(path)
    hint = f"measure one with {COMMANDS['latency-table']}"
    table = load_user_yaml(read_user_text(path, "latency table", hint), path, hint)
    keys = {"format", "device", "plan", "ops", "normal", "reduce"}
    if not isinstance(table, dict) or not keys <= set(table) or not isinstance(table["plan"], dict):
        raise UserError(f"{path} is not a darts-nexp latency table (it lacks {', '.join(sorted(keys))}); {hint}")
    if not isinstance(table["format"], int) or table["format"] > FORMAT:
        raise UserError(f"{path} was written by a newer darts-nexp (format {table['format']}); upgrade darts-nexp")
    made = {"device": table["device"], "image size": table["plan"].get("image_size"), "ops": table["ops"],
            "nodes": table["plan"].get("nodes")}
    wanted = {"device": device, "image size": list(image_size), "ops": list(PRIMITIVES), "nodes": nodes}
    for what in made:
        if made[what] != wanted[what]:
            raise UserError(f"{path} was measured for {what} {made[what]}, and this search has {wanted[what]}; "
                            f"{hint} for these settings (or pass the table made for them)")
    edges = len(edge_inputs(nodes))
    for cell in ("normal", "reduce"):
        rows = table[cell]
        sound = isinstance(rows, list) and len(rows) == edges and all(
            isinstance(r, list) and len(r) == len(PRIMITIVES)
            and all(isinstance(t, (int, float)) and not isinstance(t, bool) and t >= 0 for t in r) for r in rows)
        if not sound:
            raise UserError(f"{path}: `{cell}` must be {edges} rows of {len(PRIMITIVES)} times >= 0; it is damaged: "
                            f"{hint}")
    return table


def predict(table: dict, genotype: Genotype) -> float:
    """The cells' share of the final network's latency, in ms, as the table predicts it for `genotype`."""
    total = 0.0
    for cell in ("normal", "reduce"):
        nodes = len(getattr(genotype, cell)) // 2
        index = {pair: e for e, pair in enumerate(edge_inputs(nodes))}
        for i, (op, src) in enumerate(getattr(genotype, cell)):
            total += table[cell][index[(src, 2 + i // 2)]][PRIMITIVES.index(op)]
    return total


def tensors(table: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """The table's (edges, ops) matrices as tensors, made once for a search's every step."""
    return {f"alpha_{cell}": torch.tensor(table[cell], dtype=torch.float32, device=device)
            for cell in ("normal", "reduce")}


def expected(costs: dict[str, torch.Tensor], alphas: dict[str, torch.Tensor]) -> torch.Tensor:
    """E[latency] of a supernet in ms, differentiable in its alphas: the sum over the edges of both cell types and
    their ops (`none` included, at 0 ms) of softmax(alpha) x table. It is the supernet's expectation over all edges,
    not the latency of a derived cell, which keeps 2 edges a node."""
    return sum((alphas[name].softmax(dim=-1) * cost).sum() for name, cost in costs.items())
