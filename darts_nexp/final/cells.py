"""The discrete cell of a trained DARTS network (Liu et al., 2018, section 2.4 and appendix A.2).

Each intermediate node applies the genotype's two operations to its two chosen inputs and sums them; the cell
outputs the nodes listed in the genotype's concat, stacked along channels. Operations come from the shared table
`space.ops.OPS` with affine BatchNorm. During training, drop path (Larsson et al., 2017, FractalNet) zeroes the
output of each non-identity operation for a random subset of the images in a batch.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import UserError
from ..space import Genotype, create_op, edge_stride, preprocess_inputs
from ..space.ops import call, dense_gradient
from ..space.skeleton import CellSpec


def drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zero whole images of x (B, C, H, W) with probability p and scale the others by 1 / (1 - p).

    The mask is drawn on x's own device from torch's global generator, which runs.seed_epoch reseeds every epoch.
    """
    keep = 1.0 - p
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


def cell_edges(genotype: Genotype, reduction: bool):
    """(edges, concat) of the normal or the reduction cell."""
    if reduction:
        return genotype.reduce, genotype.reduce_concat
    return genotype.normal, genotype.normal_concat


def check_buildable(genotype: Genotype, where: str | None = None) -> None:
    """The final network also needs what a genotype file alone does not promise (see docs/genotypes.md); `where`
    names the genotype's file in the messages."""
    where = where or f"genotype {genotype.name}".rstrip()
    if len(genotype.normal_concat) != len(genotype.reduce_concat):
        raise UserError(f"{where}: normal_concat and reduce_concat list different numbers of "
                        f"nodes ({len(genotype.normal_concat)} vs {len(genotype.reduce_concat)}); every cell of the "
                        f"network must output the same number of nodes")
    if any(c < 2 for c in genotype.reduce_concat):
        raise UserError(f"{where}: reduce_concat {list(genotype.reduce_concat)} lists a cell "
                        f"input (0 or 1), which has twice the resolution of the reduced nodes; list nodes >= 2 only")


class Cell(nn.Module):
    """One normal or reduction cell; spec gives its channels (C per node) and whether it and its predecessor reduce."""

    def __init__(self, genotype: Genotype, spec: CellSpec):
        super().__init__()
        self.reduction = spec.reduction
        self.pre0, self.pre1 = preprocess_inputs(spec, affine=True)
        edges, self.concat = cell_edges(genotype, spec.reduction)
        self.inputs = [src for _, src in edges]
        self.ops = nn.ModuleList(
            create_op(name, spec.C, edge_stride(spec.reduction, src), affine=True) for name, src in edges)
        self.droppable = [not isinstance(op, nn.Identity) for op in self.ops]
        self.grad_checkpointing = False  # set by the network's set_grad_checkpointing

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        ckpt = self.grad_checkpointing
        states = [call(self.pre0, s0, grad_checkpointing=ckpt),
                  call(self.pre1, s1, grad_checkpointing=ckpt)]  # each (B, C, H, W)
        for node in range(len(self.ops) // 2):
            total = 0
            for k in (2 * node, 2 * node + 1):
                h = call(self.ops[k], states[self.inputs[k]], grad_checkpointing=ckpt)
                if self.training and drop_prob > 0 and self.droppable[k]:
                    h = drop_path(h, drop_prob)
                total = total + h
            states.append(dense_gradient(total))
        return torch.cat([states[i] for i in self.concat], dim=1)  # (B, len(concat) * C, H', W')
