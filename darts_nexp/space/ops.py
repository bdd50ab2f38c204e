"""The DARTS operation set (Liu et al., 2018, "DARTS: Differentiable Architecture Search", section 3.1).

`OPS` maps each primitive's name to a builder `(C, stride, affine) -> nn.Module` that keeps the channel count C and
divides the spatial size by `stride` (rounding up, so odd sizes such as 267x275 work). The supernet builds its
mixed operations from this table with `affine=False`; the final network builds its cells from it with `affine=True`.
"""
from __future__ import annotations

import contextlib
import threading

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

PRIMITIVES = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
POOLING = ("max_pool_3x3", "avg_pool_3x3")


# Below this many channels, and at counts that are not a multiple of 8, torch's CPU BatchNorm of a channels-last
# tensor (which vectorises across the channels) ran 1.4 to 5 times slower than the default format's (torch 2.14.1;
# 24 with AVX-512 and 16 with AVX2, where 20 channels were already faster channels-last; docs/benchmarks.md).
_SLOW_CHANNELS_LAST_BN = 24 if torch.backends.cpu.get_cpu_capability().startswith("AVX512") else 16


class BatchNorm2d(nn.BatchNorm2d):
    """nn.BatchNorm2d that normalises a channels-last CPU tensor with few channels in the default memory format and
    returns it channels-last: the same math and state_dict. The copies there and back cost less than the slow
    kernel: with them a training step of the demo's network (10 and 20 channels) took 0.68 of the time, and a weight
    step of its supernet (4 channels in the first cell) 0.77 (benchmarks/same_math.py, docs/benchmarks.md).

    `scale`, a scalar tensor, multiplies the output inside the kernel, as an affine weight of scale on every
    channel: the supernet weighs each op's output by its softmax weight this way (supernet/mixed_op.py).

    Inside `recomputing` a training forward leaves the running statistics alone (grad checkpointing).
    """

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        C = x.shape[1]
        if (x.device.type == "cpu" and C % 8 and C < _SLOW_CHANNELS_LAST_BN and not x.is_contiguous()
                and x.is_contiguous(memory_format=torch.channels_last)):
            return self._normalise(x.contiguous(), scale).contiguous(memory_format=torch.channels_last)
        return self._normalise(x, scale)

    def _normalise(self, x: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
        recompute = self.training and recomputing.depth > 0
        if scale is None and not recompute:
            return super().forward(x)
        self._check_input_dim(x)
        # contiguous: torch 2.14.1's channels-last CPU kernel reads a stride-0 (expanded) weight as if it were dense
        weight = self.weight if scale is None else scale.expand(x.shape[1]).contiguous()
        if recompute:
            # The forward pass run again for the backward pass (grad checkpointing): the same batch statistics and
            # output from the same kernel, but a momentum of 0 and no count, so that the running statistics are
            # updated once per step, as without recomputation.
            return F.batch_norm(x, self.running_mean, self.running_var, weight, self.bias, True, 0.0, self.eps)
        assert self.weight is None and self.track_running_stats and self.momentum is not None, \
            "scale is for the supernet's BatchNorm (affine=False, running statistics, a momentum)"
        if self.training:
            self.num_batches_tracked.add_(1)
        return F.batch_norm(x, self.running_mean, self.running_var, weight, None, self.training, self.momentum,
                            self.eps)


class _Recomputing(threading.local):
    """The context of a forward pass run again for the backward pass (grad checkpointing), in which BatchNorm
    leaves its running statistics alone. Per thread, as on CUDA the backward pass runs in autograd's own thread;
    reentrant, as a double backward recomputes an op more than once."""

    depth = 0

    def __enter__(self):
        self.depth += 1

    def __exit__(self, *exc):
        self.depth -= 1


recomputing = _Recomputing()


def call(op: nn.Module, *args, grad_checkpointing: bool = False):
    """op(*args); with grad_checkpointing, in a pass that records gradients, op keeps only its inputs (which the
    cell keeps anyway, as its nodes) and runs again in the backward pass: far less memory for about one more forward
    pass of time (docs/benchmarks.md). The gradients and the running statistics are the same, bit for bit."""
    if grad_checkpointing and torch.is_grad_enabled():
        return checkpoint(op, *args, use_reentrant=False, context_fn=lambda: (contextlib.nullcontext(), recomputing))
    return op(*args)


def dense_gradient(t: torch.Tensor) -> torch.Tensor:
    """t, whose gradient reaches the ops that made it dense, in t's memory format. A cell's node gets its gradient as
    a slice of the concatenation's (or in the head's default format), and torch's CPU BatchNorm backward ran such a
    gradient about twice as slowly; one copy here serves every op that feeds the node (docs/benchmarks.md)."""
    if t.requires_grad:
        layout = torch.channels_last if t.dim() == 4 and not t.is_contiguous() else torch.contiguous_format
        t.register_hook(lambda g: g.contiguous(memory_format=layout))
    return t


class Zero(nn.Module):
    """The `none` op: a zero map at the output resolution."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class ReLUConvBN(nn.Sequential):
    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            BatchNorm2d(C_out, affine=affine),
        )


class DilatedConv2d(nn.Conv2d):
    """nn.Conv2d that, when it strides as far as it dilates and pads to keep the size (a dil_conv on a reduction
    edge), runs undilated at stride 1 on x[:, :, ::stride, ::stride], the only pixels such a convolution reads: the
    same outputs and gradients from a quarter of the input. On the CPU the strided dilated depthwise convolution ran
    twice as long channels-last as in the default format; this way it runs 4 to 7 times faster channels-last
    (torch 2.14.1, docs/benchmarks.md)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        s = self.stride[0]
        same = tuple(d * (k // 2) for d, k in zip(self.dilation, self.kernel_size))
        # The step of the grid the convolution reads, decided once: 1 for an ordinary convolution.
        self.grid = s if s > 1 and self.stride == self.dilation == (s, s) and self.padding == same else 1
        self.grid_padding = [k // 2 for k in self.kernel_size]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grid > 1:
            s = self.grid
            return F.conv2d(x[:, :, ::s, ::s], self.weight, self.bias, 1, self.grid_padding, 1, self.groups)
        return super().forward(x)


class DilConv(nn.Sequential):
    """ReLU, depthwise conv (optionally dilated), pointwise conv, BN."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, dilation, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            DilatedConv2d(C_in, C_in, kernel_size, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            BatchNorm2d(C_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two DilConv blocks without dilation; only the first one strides."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True):
        super().__init__(
            DilConv(C_in, C_in, kernel_size, stride, padding, 1, affine),
            DilConv(C_in, C_out, kernel_size, 1, padding, 1, affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing every other pixel: two stride-2 1x1 convs, the second one shifted by a pixel.

    The shifted path reads rows and columns 1, 3, 5, ...; an odd size has one fewer of them than ceil(H/2), so it is
    padded with a zero row or column at the bottom or right, and both paths give ceil(H/2) x ceil(W/2) for odd sizes
    too (the reference slices `x[:, :, 1:, 1:]` and breaks there). It pads after slicing, not before: the convolution
    keeps its input for the backward pass, and a slice of a padded copy kept the whole full-size copy.

    The stride is taken by slicing, and the convs run at stride 1: the same math, but in torch 2.14.1 the CPU's
    weight gradient of a channels-last stride-2 1x1 conv with few input channels (2 to 15 with AVX-512, under 8
    with AVX2) writes outside its buffer and kills the process ("double free or corruption"; docs/benchmarks.md).
    """

    def __init__(self, C_in: int, C_out: int, affine: bool = True):
        super().__init__()
        assert C_out % 2 == 0, "FactorizedReduce needs an even number of output channels"
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, bias=False)
        self.bn = BatchNorm2d(C_out, affine=affine)

    def forward(self, x):
        return self.bn(self.halves(x))

    def halves(self, x: torch.Tensor) -> torch.Tensor:
        """The two convolutions' outputs side by side, before the BatchNorm (which the supernet calls itself)."""
        x = self.relu(x)
        even, odd = x[:, :, ::2, ::2], x[:, :, 1::2, 1::2]
        if odd.shape != even.shape:
            odd = F.pad(odd, (0, even.shape[3] - odd.shape[3], 0, even.shape[2] - odd.shape[2]))
        return torch.cat([self.conv_1(even), self.conv_2(odd)], dim=1)


def _skip(C, stride, affine):
    return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine)


OPS = {
    "none": lambda C, stride, affine: Zero(stride),
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "skip_connect": _skip,
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine),
}
assert tuple(OPS) == PRIMITIVES


def create_op(name: str, C: int, stride: int, affine: bool) -> nn.Module:
    if name not in OPS:
        raise ValueError(f"unknown operation {name!r}; valid operations are {', '.join(PRIMITIVES)}")
    return OPS[name](C, stride, affine)
