"""Reading a cell out of a trained supernet by perturbation (DARTS-PT, Wang et al., ICLR 2021).

DARTS keeps on every edge the op with the largest alpha (`SearchNetwork.genotype`). DARTS-PT showed that the size of
an alpha need not say how much its op matters to the supernet, and asks the supernet instead:

1. The edges of both cells, in a seeded random order. On each edge, each op is removed in turn (its weight set to 0,
   the others' left as they are) and the supernet is scored on a fixed set of validation images. The op whose
   removal hurts most is kept, and from then on the edge carries that op alone, at weight 1.
2. The nodes of both cells, in a seeded random order. Each incoming edge is removed in turn the same way; the two
   whose removal hurts most are kept and the node's other edges are removed for good.
3. After every decision, `tune_steps` weight steps let the supernet adapt to what it lost.

"Hurts" is measured by the cross-entropy on the fixed images, not by their AUC. The loss moves with every image's
score, so removing a minor op still registers; the AUC moves only when two images swap ranks, and on a few hundred
images most removals would tie. The loss is also what the supernet's weights were trained to lower.
"""
from __future__ import annotations

import random
from typing import Callable, Optional

import torch
from tqdm import tqdm

from ..loops import predict
from ..space import PRIMITIVES, Genotype, edge_inputs

CELLS = ("normal", "reduce")
CHOICES = [k for k, name in enumerate(PRIMITIVES) if name != "none"]  # `none` is never kept (DARTS, section 2.4)


class Projection:
    """What the derivation has decided so far, per cell type, as the network applies it to softmax(alpha):
    `keep` (edges, ops) multiplies the op weights, and on a `fixed` edge it replaces them (a one-hot row, or
    zeros for an edge removed). Every change goes through `set`, `fix` or `restore`, which also tell the mixed ops
    of `model` (when given) which ops they need not compute."""

    def __init__(self, edges: int, device: torch.device, model=None):
        self.keep = {cell: torch.ones(edges, len(PRIMITIVES), device=device) for cell in CELLS}
        self.fixed = {cell: torch.zeros(edges, 1, dtype=torch.bool, device=device) for cell in CELLS}
        self.mixed = {cell: [[] for _ in range(edges)] for cell in CELLS}
        if model is not None:
            for stacked in model.body.cells:
                for e, op in enumerate(stacked.edges):
                    self.mixed["reduce" if stacked.reduction else "normal"][e].append(op)

    def apply(self, cell: str, weights: torch.Tensor) -> torch.Tensor:
        keep = self.keep[cell]
        return torch.where(self.fixed[cell], keep, weights * keep)

    def set(self, cell: str, edge: int, row: torch.Tensor) -> None:
        """The multipliers of edge `edge`'s ops (a row of `keep`)."""
        self.keep[cell][edge] = row
        active = (row != 0).tolist()
        for op in self.mixed[cell][edge]:
            op.active = [active[k] for k in op.index]

    def fix(self, cell: str, edge: int, op: Optional[int]) -> None:
        """Edge `edge` carries op `op` alone from now on; None removes the edge."""
        row = torch.zeros(len(PRIMITIVES), device=self.keep[cell].device)
        if op is not None:
            row[op] = 1
        self.set(cell, edge, row)
        self.fixed[cell][edge] = True

    def release(self) -> None:
        """Every mixed op computes all its ops again."""
        for edges in self.mixed.values():
            for ops in edges:
                for op in ops:
                    op.active = None


def perturbation(model, images: list, seed: int, tune: Optional[Callable[[int], None]] = None, tune_steps: int = 0,
                 progress: bool = True, name: str = "", meta: Optional[dict] = None) -> tuple[Genotype, list[dict]]:
    """The genotype DARTS-PT reads out of `model` (a SearchNetwork), scored on `images` (a list of (x, y) batches on
    the model's device); `tune(n)` takes n weight steps. Returns it with the decisions: one dict per edge and node,
    with the loss after each removal. The model is left as it was found, its weights tuned."""
    inputs = edge_inputs(model.nodes)
    into = {n: [r for r, (_, node) in enumerate(inputs) if node == n] for n in sorted({n for _, n in inputs})}
    projection = Projection(len(inputs), model.alpha_normal.device, model)
    edges = [(cell, e) for cell in CELLS for e in range(len(inputs))]
    nodes = [(cell, n) for cell in CELLS for n in into]
    rng = random.Random(seed)
    rng.shuffle(edges)
    rng.shuffle(nodes)
    tuning = tune is not None and tune_steps > 0
    scorings = (len(edges) * len(CHOICES) + sum(len(into[n]) for _, n in nodes if len(into[n]) > 2))
    bar = tqdm(total=scorings, desc="perturbation", disable=not progress, leave=False)

    def score() -> float:
        with torch.no_grad():
            loss = predict(model, images)[0]
        bar.update()
        return loss

    decisions, chosen, kept_edges = [], {cell: {} for cell in CELLS}, {cell: {} for cell in CELLS}
    model.projection = projection
    try:
        for cell, e in edges:
            without = {}
            for k in CHOICES:
                row = torch.ones(len(PRIMITIVES), device=projection.keep[cell].device)
                row[k] = 0
                projection.set(cell, e, row)
                without[PRIMITIVES[k]] = score()
            projection.set(cell, e, torch.ones_like(row))
            chosen[cell][e] = max(without, key=without.get)
            projection.fix(cell, e, PRIMITIVES.index(chosen[cell][e]))
            decisions.append({"cell": cell, "edge": f"{inputs[e][0]}->{inputs[e][1]}", "without": without,
                              "kept": chosen[cell][e]})
            if tuning:
                tune(tune_steps)
        for cell, n in nodes:
            rows = into[n]
            if len(rows) > 2:
                without = {}
                for r in rows:
                    saved = projection.keep[cell][r].clone()
                    projection.set(cell, r, torch.zeros_like(saved))
                    without[r] = score()
                    projection.set(cell, r, saved)
                best = sorted(rows, key=lambda r: -without[r])[:2]
                for r in set(rows) - set(best):
                    projection.fix(cell, r, None)
                rows = sorted(best)
                decisions.append({"cell": cell, "node": n, "kept": [f"{inputs[r][0]}->{n}" for r in rows],
                                  "without": {f"{inputs[r][0]}->{n}": v for r, v in without.items()}})
                if tuning:
                    tune(tune_steps)
            kept_edges[cell][n] = rows
    finally:
        model.projection = None
        projection.release()
        bar.close()

    def cell_edges(cell: str) -> tuple:
        return tuple((chosen[cell][r], inputs[r][0]) for n in into for r in kept_edges[cell][n])

    concat = tuple(range(2, 2 + model.nodes))
    return Genotype(cell_edges("normal"), concat, cell_edges("reduce"), concat, name=name,
                    meta=dict(meta or {})), decisions
