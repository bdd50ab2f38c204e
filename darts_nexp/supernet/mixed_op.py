"""The mixed operation of DARTS (Liu et al., 2018, eq. 2): o(x) = sum_k softmax(alpha)_k o_k(x).

Operations come from the shared table `space.ops.OPS`, built with BatchNorm affine=False as in the paper, and the
pooling ops get a BatchNorm(affine=False) after them so that their scale is comparable to the convolutions'.
`none` takes part in the softmax but is never computed: its output is zero at any weight, so leaving it out of the
sum changes nothing except the time and memory it would waste.

The first depthwise convolutions of sep_conv_3x3, sep_conv_5x5 and dil_conv_3x3 all read the same ReLU'd input at
the same stride and span 5x5 at most (a 3x3 kernel is a 5x5 one with a zero border, a 3x3 kernel of dilation 2 one
with holes). With `fuse` they run as one grouped 5x5 convolution whose kernel is assembled from the three ops' own
weights at every pass: the zeros are constants, not parameters, so the trained weights, their gradients and the
alpha gradients are the plain ops' (tests/test_supernet.py). dil_conv_5x5 (9x9 with holes) stays on its own.

Two robust-search variants live here too:
- partial channels (PC-DARTS, Xu et al., ICLR 2020): only 1/K of the channels go through the operations; the rest
  bypass them (max-pooled on strided edges) and the channels are shuffled afterwards, so that each edge sees other
  channels in the next cell;
- an auxiliary skip (DARTS-, Chu et al., ICLR 2021): `aux_skip * skip(x)` is added outside the softmax, so that
  the skip connection no longer needs a large alpha to pass the gradient. Its weight decays to 0 over the search.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..space import POOLING, PRIMITIVES, create_op
from ..space.ops import BatchNorm2d, FactorizedReduce, dense_gradient


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


def _split_last_bn(op: nn.Module) -> tuple[Callable[[torch.Tensor], torch.Tensor], BatchNorm2d | None]:
    """(op up to its last BatchNorm, that BatchNorm), sharing op's modules; (op, None) when it ends in none."""
    if isinstance(op, FactorizedReduce):
        return op.halves, op.bn
    if isinstance(op, nn.Sequential) and len(op):
        *body, last = op
        if isinstance(last, BatchNorm2d):
            return nn.Sequential(*body), last
        head, bn = _split_last_bn(last)
        if bn is not None:
            return nn.Sequential(*body, head), bn
    return op, None


FUSED = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3")


def _first_depthwise(op: nn.Module) -> tuple[nn.Conv2d, nn.Sequential]:
    """The first depthwise convolution of a sep or dil conv, and what follows it, sharing the op's modules."""
    head = op[0] if isinstance(op[0], nn.Sequential) else op  # SepConv: its first DilConv
    rest = nn.Sequential(*list(head)[2:])  # after ReLU and the depthwise conv
    return head[1], (nn.Sequential(rest, *list(op)[1:]) if head is not op else rest)


def _in_5x5(conv: nn.Conv2d) -> torch.Tensor:
    """conv's (C, 1, k, k) kernel as the (C, 1, 5, 5) kernel of the same map at padding 2 and dilation 1."""
    w = conv.weight
    if conv.dilation == (1, 1):
        return F.pad(w, (2 - conv.kernel_size[0] // 2,) * 4)
    holes = w.new_zeros(w.shape[0], 1, 5, 5)
    holes[:, :, ::2, ::2] = w  # autograd carries the gradient back to w through the slice
    return holes


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, C, H, W) with channel c of group g moved to position c * groups + g (ShuffleNet)."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class MixedOp(nn.Module):
    """All non-`none` operations on one edge with C channels and the given stride; with `partial` = K > 1 they see
    only C / K of the channels (K must divide C)."""

    def __init__(self, C: int, stride: int, partial: int = 1):
        super().__init__()
        assert C % partial == 0, f"partial channels: {partial} does not divide {C}"
        self.partial, self.stride = partial, stride
        self.names = [name for name in PRIMITIVES if name != "none"]
        self.index = [PRIMITIVES.index(name) for name in self.names]  # column of each op in a row of alpha
        self.skip = self.names.index("skip_connect")
        self.aux_skip = 0.0  # the DARTS- auxiliary skip weight, set by the search every epoch
        # Which ops to compute (None: all). The perturbation derivation (derive.py) turns off the ops it has set to
        # weight 0, which it would otherwise compute only to multiply by 0: a fixed edge computes one op, not seven.
        self.active: list[bool] | None = None
        ops = []
        for name in self.names:
            op = create_op(name, C // partial, stride, affine=False)
            ops.append(nn.Sequential(op, BatchNorm2d(C // partial, affine=False)) if name in POOLING else op)
        self.ops = nn.ModuleList(ops)
        # Plain lists, not submodules: these views share the parameters registered through self.ops. Each op runs
        # as (what comes before its last BatchNorm, that BatchNorm), on the edge's ReLU'd input where it starts
        # with a ReLU.
        after_relu = [_without_leading_relu(op) for op in ops]
        self._on_relu = [tail is not None for tail in after_relu]
        self._parts = [_split_last_bn(op if tail is None else tail) for op, tail in zip(ops, after_relu)]
        self.fuse = False  # set by fuse_convolutions (network.py)
        self._fused = []
        for name in FUSED:
            i = self.names.index(name)
            conv, rest = _first_depthwise(ops[i])
            body, bn = _split_last_bn(rest)
            assert bn is self._parts[i][1]
            self._fused.append((i, conv, body))

    def _fused_outputs(self, relu_x: torch.Tensor) -> dict[int, torch.Tensor]:
        """{op index: output before its last BatchNorm} of the FUSED ops, their first depthwise convolutions run
        as one."""
        convs = [conv for _, conv, _ in self._fused]
        # Output channel 3c + m of a grouped convolution with 3 outputs per group is op m's channel c.
        kernel = torch.stack([_in_5x5(conv) for conv in convs], dim=1).flatten(0, 1)
        y = F.conv2d(relu_x, kernel, stride=self.stride, padding=2, groups=relu_x.shape[1])
        y = y.unflatten(1, (relu_x.shape[1], len(convs)))
        return {i: rest(y[:, :, m]) for m, (i, _, rest) in enumerate(self._fused)}

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W); weights: (len(PRIMITIVES),) softmax of this edge's alpha row."""
        if self.partial > 1:
            x, bypass = x.split([x.shape[1] // self.partial, x.shape[1] - x.shape[1] // self.partial], dim=1)
        relu_x = torch.relu(x)
        out = None
        active = self.active
        if active is not None and not any(active):  # an edge removed: a zero of the right shape, from the skip
            active = [i == self.skip for i in range(len(self.ops))]
        fused = self._fused_outputs(relu_x) if self.fuse and active is None else {}
        for i, (k, (body, bn)) in enumerate(zip(self.index, self._parts)):
            if active is not None and not active[i]:
                continue
            h = fused[i] if i in fused else body(relu_x if self._on_relu[i] else x)
            # The DARTS- auxiliary skip adds aux_skip * skip(x): to the skip's weight, outside the softmax.
            scale = weights[k] + self.aux_skip if i == self.skip and self.aux_skip else weights[k]
            # scale * BN(h) with scale as BatchNorm's affine weight: one kernel, whose backward gives the alpha's
            # gradient from what BatchNorm keeps anyway, so the op's output is not kept for it (a fifth of a
            # step's saved tensors; docs/benchmarks.md).
            y = scale * h if bn is None else bn(h, scale=scale)
            out = y if out is None else out + y
        out = dense_gradient(out)  # here, not on the node: with partial channels out's gradient is a slice too
        if self.partial > 1:
            if self.stride > 1:  # ceil_mode: the same ceil(H/2) x ceil(W/2) as the strided ops, odd sizes too
                bypass = F.max_pool2d(bypass, 2, 2, ceil_mode=True)
            out = channel_shuffle(torch.cat([out, bypass], dim=1), self.partial)
        return out
