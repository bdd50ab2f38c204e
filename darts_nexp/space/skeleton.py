"""The network skeleton shared by the supernet and the final network: stem, cell plan and cell stack.

Which layers reduce, and the channel counts every cell sees, are computed once here (`plan_cells`), so the two
networks cannot drift apart. A network is a stem that yields two feature maps (s0, s1), then a stack of cells
where each cell reads the outputs of the two cells before it: s0, s1 <- s1, cell(s0, s1).

Stems:
- "cifar": one 3x3 conv at full resolution (the paper's CIFAR-10 network);
- "imagenet": stride-2 convs down to 1/8 resolution (the paper's ImageNet network), which is what makes
  full-resolution Nexperia images (267x275) affordable to search and train.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from .ops import BatchNorm2d, FactorizedReduce, ReLUConvBN

STEMS = ("cifar", "imagenet")
STEM_STRIDE = {"cifar": 1, "imagenet": 8}
MIN_CELL_INPUT = 16  # below this the first cell's maps are too coarse for thin scratches (docs/data.md)


def first_cell_size(stem: str, image_size) -> tuple[int, int]:
    """(H, W) of the maps the first cell sees, for images of `image_size` (H, W)."""
    return tuple(-(-int(v) // STEM_STRIDE[stem]) for v in image_size)


def auto_stem(image_size) -> str:
    """The stem for an input size: the ImageNet stem from 128 px up, where it leaves the first cell 16 px or more;
    the CIFAR stem (full resolution) below."""
    return "imagenet" if min(image_size) >= 8 * MIN_CELL_INPUT else "cifar"


@dataclass(frozen=True)
class CellSpec:
    """Channels and strides of one cell. C_pp, C_p: channels of its two inputs; C: channels per node."""

    index: int
    reduction: bool
    reduction_prev: bool
    C_pp: int
    C_p: int
    C: int
    multiplier: int

    @property
    def C_out(self) -> int:
        return self.C * self.multiplier


def reduction_layers(layers: int) -> tuple[int, ...]:
    """Reductions at 1/3 and 2/3 of the depth, as in the paper; none for networks of fewer than 3 cells."""
    return tuple(sorted({layers // 3, 2 * layers // 3})) if layers >= 3 else ()


def aux_layer(layers: int) -> int:
    """The cell the auxiliary head reads: the second reduction cell (2/3 of the depth), as in the reference."""
    return 2 * layers // 3


def num_edges(nodes: int) -> int:
    """Edges of a cell with `nodes` intermediate nodes: 2 + 3 + ... + (nodes + 1); 14 for 4 nodes."""
    return sum(range(2, 2 + nodes))


def edge_inputs(nodes: int) -> list[tuple[int, int]]:
    """(input, node) of every edge of a search cell, numbered node by node (node 2's two edges, node 3's three, ...).

    This is the row order of the alpha matrices. Nodes 0 and 1 are the cell inputs, 2.. the intermediate nodes.
    """
    return [(src, node + 2) for node in range(nodes) for src in range(node + 2)]


def edge_names(nodes: int) -> list[str]:
    """One name per alpha row, "<input>-><node>"."""
    return [f"{src}->{node}" for src, node in edge_inputs(nodes)]


def edge_stride(reduction: bool, src: int) -> int:
    """In a reduction cell only the edges leaving the two cell inputs stride."""
    return 2 if reduction and src < 2 else 1


def stem_channels(stem: str, C: int, stem_multiplier: int) -> tuple[int, bool]:
    """(channels of the stem's outputs, whether s0 has twice the resolution of s1)."""
    if stem == "cifar":
        return stem_multiplier * C, False
    if stem == "imagenet":
        return C, True
    raise ValueError(f"unknown stem {stem!r}; valid stems are {', '.join(STEMS)}")


def plan_cells(layers: int, C: int, stem: str, stem_multiplier: int = 3, multiplier: int = 4) -> list[CellSpec]:
    C_stem, reduction_prev = stem_channels(stem, C, stem_multiplier)
    C_pp, C_p, C_cur = C_stem, C_stem, C
    reductions = reduction_layers(layers)
    specs = []
    for i in range(layers):
        reduction = i in reductions
        if reduction:
            C_cur *= 2
        specs.append(CellSpec(i, reduction, reduction_prev, C_pp, C_p, C_cur, multiplier))
        reduction_prev = reduction
        C_pp, C_p = C_p, C_cur * multiplier
    return specs


class Stem(nn.Module):
    """Maps an image (B, in_chans, H, W) to the two inputs (s0, s1) of the first cell."""

    def __init__(self, style: str, in_chans: int, C: int, stem_multiplier: int = 3):
        super().__init__()
        C_stem, _ = stem_channels(style, C, stem_multiplier)
        self.style = style
        if style == "cifar":
            self.stem0 = nn.Sequential(nn.Conv2d(in_chans, C_stem, 3, padding=1, bias=False), BatchNorm2d(C_stem))
            self.stem1 = None
        else:
            self.stem0 = nn.Sequential(
                nn.Conv2d(in_chans, C // 2, 3, stride=2, padding=1, bias=False),
                BatchNorm2d(C // 2),
                nn.ReLU(inplace=True),
                nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
                BatchNorm2d(C),
            )  # (B, C, H/4, W/4)
            self.stem1 = nn.Sequential(
                nn.ReLU(inplace=False),
                nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
                BatchNorm2d(C),
            )  # (B, C, H/8, W/8)

    def forward(self, x):
        s0 = self.stem0(x)
        return (s0, s0) if self.stem1 is None else (s0, self.stem1(s0))


def preprocess_inputs(spec: CellSpec, affine: bool) -> tuple[nn.Module, nn.Module]:
    """Bring both cell inputs to C channels at the same resolution (s0 is twice as large after a reduction)."""
    pre0 = FactorizedReduce(spec.C_pp, spec.C, affine) if spec.reduction_prev else ReLUConvBN(spec.C_pp, spec.C, 1, 1, 0, affine)
    pre1 = ReLUConvBN(spec.C_p, spec.C, 1, 1, 0, affine)
    return pre0, pre1


class CellStack(nn.Module):
    """Stem followed by cells built by `make_cell(spec)`.

    `forward(x, cell_args)` calls each cell as `cell(s0, s1, *cell_args(cell))`, which is how the supernet passes
    its architecture weights and the final network its drop-path rate. It returns the last cell's output and the
    outputs of every cell listed in `taps` (the auxiliary head reads one of them).
    """

    def __init__(self, in_chans: int, C: int, layers: int, stem: str, stem_multiplier: int, multiplier: int, make_cell):
        super().__init__()
        self.specs = plan_cells(layers, C, stem, stem_multiplier, multiplier)
        self.stem = Stem(stem, in_chans, C, stem_multiplier)
        self.cells = nn.ModuleList(make_cell(spec) for spec in self.specs)
        self.out_channels = self.specs[-1].C_out if self.specs else stem_channels(stem, C, stem_multiplier)[0]

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Run each cell's operations again in the backward pass instead of keeping their activations (ops.call)."""
        for cell in self.cells:
            cell.grad_checkpointing = enable

    def forward(self, x, cell_args=lambda cell: (), taps: tuple[int, ...] = ()):
        s0, s1 = self.stem(x)
        tapped = {}
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, *cell_args(cell))
            if i in taps:
                tapped[i] = s1
        return s1, tapped
