"""The search cell of DARTS (Liu et al., 2018, section 2.1): a DAG of 2 inputs and `nodes` intermediate nodes.

Intermediate node j sums one MixedOp on each earlier node: edges are numbered node by node (node 2's two edges, node
3's three, ...), which is also the row order of the alpha matrices. The cell outputs its intermediate nodes
concatenated along channels.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..space import edge_inputs, edge_stride, preprocess_inputs
from ..space.ops import call
from ..space.skeleton import CellSpec
from .mixed_op import MixedOp


class SearchCell(nn.Module):
    def __init__(self, spec: CellSpec, nodes: int, partial: int = 1):
        super().__init__()
        self.reduction = spec.reduction
        self.nodes = nodes
        self.pre0, self.pre1 = preprocess_inputs(spec, affine=False)
        self.edges = nn.ModuleList(MixedOp(spec.C, edge_stride(spec.reduction, src), partial)
                                   for src, _ in edge_inputs(nodes))
        self.grad_checkpointing = False  # set by the network's set_grad_checkpointing

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                edge_weights: torch.Tensor | None = None) -> torch.Tensor:
        """weights: (edges, len(PRIMITIVES)) softmax of this cell type's alpha; edge_weights: (edges,) the edge
        normalisation of PC-DARTS, each node's incoming edges summing to 1, or None."""
        ckpt = self.grad_checkpointing
        states = [call(self.pre0, s0, grad_checkpointing=ckpt),
                  call(self.pre1, s1, grad_checkpointing=ckpt)]  # each (B, C, H, W)
        edge = 0
        for _ in range(self.nodes):
            outs = [call(self.edges[edge + i], h, weights[edge + i], grad_checkpointing=ckpt)
                    for i, h in enumerate(states)]
            if edge_weights is not None:
                outs = [edge_weights[edge + i] * o for i, o in enumerate(outs)]
            states.append(sum(outs))
            edge += len(states) - 1
        return torch.cat(states[2:], dim=1)  # (B, nodes * C, H, W)
