"""The DARTS search network (Liu et al., 2018, section 2.2): a stack of search cells sharing two alpha matrices.

All normal cells share `alpha_normal` and all reduction cells share `alpha_reduce`, each (edges, len(PRIMITIVES)),
initialised to 1e-3 * N(0, 1). The network owns them explicitly and hands out disjoint parameter groups:
`weights()` for the weight optimiser, `alphas()` for the architecture optimiser. Checkpoints keep them apart too:
`weight_state()` and `arch_state()`.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..space import PRIMITIVES, CellStack, Genotype, derive_genotype, num_edges
from .cells import SearchCell

ALPHAS = ("alpha_normal", "alpha_reduce")


class SearchNetwork(nn.Module):
    """Supernet for `num_classes` classes on (B, in_chans, H, W) images of any size (global pooling at the end).

    init_channels is C, the channels per node of the first cells (doubled at each reduction); layers is the number
    of cells; nodes the intermediate nodes per cell; stem "cifar" (full resolution) or "imagenet" (to 1/8).
    """

    def __init__(self, num_classes: int = 2, in_chans: int = 1, init_channels: int = 16, layers: int = 8,
                 nodes: int = 4, stem: str = "cifar", stem_multiplier: int = 3):
        super().__init__()
        self.model_args = dict(num_classes=num_classes, in_chans=in_chans, init_channels=init_channels,
                               layers=layers, nodes=nodes, stem=stem, stem_multiplier=stem_multiplier)
        self.nodes = nodes
        self.body = CellStack(in_chans, init_channels, layers, stem, stem_multiplier, multiplier=nodes,
                              make_cell=lambda spec: SearchCell(spec, nodes))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(self.body.out_channels, num_classes)
        shape = (num_edges(nodes), len(PRIMITIVES))
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(shape))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w_normal = self.alpha_normal.softmax(dim=-1)
        w_reduce = self.alpha_reduce.softmax(dim=-1)
        out, _ = self.body(x, cell_args=lambda cell: (w_reduce if cell.reduction else w_normal,))
        return self.classifier(self.pool(out).flatten(1))  # (B, num_classes)

    def weights(self) -> list[nn.Parameter]:
        """Every parameter except the alphas: what the weight optimiser updates."""
        return [p for name, p in self.named_parameters() if name not in ALPHAS]

    def alphas(self) -> list[nn.Parameter]:
        return [self.alpha_normal, self.alpha_reduce]

    def genotype(self, name: str = "", meta: dict | None = None) -> Genotype:
        return derive_genotype(self.alpha_normal.detach().cpu(), self.alpha_reduce.detach().cpu(), self.nodes,
                               name=name, meta=meta)

    def arch_state(self) -> dict[str, torch.Tensor]:
        """The alphas alone, detached copies on the CPU."""
        return {name: getattr(self, name).detach().cpu().clone() for name in ALPHAS}

    def weight_state(self) -> dict[str, torch.Tensor]:
        """The state dict without the alphas: weights and BatchNorm statistics."""
        return {k: v for k, v in self.state_dict().items() if k not in ALPHAS}

    def load_states(self, weight_state: dict, arch_state: dict) -> None:
        self.load_state_dict({**weight_state, **arch_state})
