"""The mixed operation of DARTS (Liu et al., 2018, eq. 2): o(x) = sum_k softmax(alpha)_k o_k(x).

Operations come from the shared table `space.ops.OPS`, built with BatchNorm affine=False as in the paper, and the
pooling ops get a BatchNorm(affine=False) after them so that their scale is comparable to the convolutions'.
`none` takes part in the softmax but is never computed: its output is zero at any weight, so leaving it out of the
sum changes nothing except the time and memory it would waste.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..space import POOLING, PRIMITIVES, create_op


def _without_leading_relu(op: nn.Module) -> nn.Module | None:
    """`op` minus the ReLU it starts with, sharing its modules; None when it does not start with one.

    Every convolution of the space starts with ReLU(x) on the same edge input. Computing that ReLU once per edge
    instead of once per op gives the same numbers with a quarter of the ReLU work and activation memory.
    """
    if isinstance(op, nn.Sequential) and len(op) and isinstance(op[0], nn.ReLU):
        return nn.Sequential(*list(op)[1:])
    if isinstance(op, nn.Sequential) and len(op) and (head := _without_leading_relu(op[0])) is not None:
        return nn.Sequential(head, *list(op)[1:])
    return None


class MixedOp(nn.Module):
    """All non-`none` operations on one edge with C channels and the given stride."""

    def __init__(self, C: int, stride: int):
        super().__init__()
        self.names = [name for name in PRIMITIVES if name != "none"]
        self.index = [PRIMITIVES.index(name) for name in self.names]  # column of each op in a row of alpha
        ops = []
        for name in self.names:
            op = create_op(name, C, stride, affine=False)
            ops.append(nn.Sequential(op, nn.BatchNorm2d(C, affine=False)) if name in POOLING else op)
        self.ops = nn.ModuleList(ops)
        # A plain list, not submodules: these views share the parameters registered through self.ops.
        self._after_relu = [_without_leading_relu(op) for op in ops]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W); weights: (len(PRIMITIVES),) softmax of this edge's alpha row."""
        relu_x = torch.relu(x)
        out = None
        for k, op, tail in zip(self.index, self.ops, self._after_relu):
            y = op(x) if tail is None else tail(relu_x)
            out = weights[k] * y if out is None else out + weights[k] * y
        return out
