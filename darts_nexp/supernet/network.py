"""The DARTS search network (Liu et al., 2018, section 2.2): a stack of search cells sharing two alpha matrices.

All normal cells share `alpha_normal` and all reduction cells share `alpha_reduce`, each (edges, len(PRIMITIVES)),
initialised to 1e-3 * N(0, 1). The network owns them explicitly and hands out disjoint parameter groups:
`weights()` for the weight optimiser, `alphas()` for the architecture optimiser (with edge normalisation, the edge
betas belong to it too). Checkpoints keep them apart: `weight_state()` and `arch_state()`.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..space import PRIMITIVES, CellStack, Genotype, derive_genotype, edge_inputs, num_edges
from .cells import SearchCell
from .mixed_op import MixedOp


def node_softmax(beta: torch.Tensor, nodes: int) -> torch.Tensor:
    """(edges,) edge weights: a softmax of `beta` over the incoming edges of each node (PC-DARTS edge normalisation)."""
    node_of = [node for _, node in edge_inputs(nodes)]
    return torch.cat([beta[node_of.index(n): node_of.index(n) + node_of.count(n)].softmax(dim=0)
                      for n in sorted(set(node_of))])


class SearchNetwork(nn.Module):
    """Supernet for `num_classes` classes on (B, in_chans, H, W) images of any size (global pooling at the end).

    init_channels is C, the channels per node of the first cells (doubled at each reduction); layers is the number
    of cells; nodes the intermediate nodes per cell; stem "cifar" (full resolution) or "imagenet" (to 1/8).
    partial_channels K > 1 sends 1/K of each edge's channels through its operations (PC-DARTS); edge_norm adds
    per-edge weights beta_normal and beta_reduce, normalised over each node's incoming edges (PC-DARTS).
    """

    def __init__(self, num_classes: int = 2, in_chans: int = 1, init_channels: int = 16, layers: int = 8,
                 nodes: int = 4, stem: str = "cifar", stem_multiplier: int = 3, partial_channels: int = 1,
                 edge_norm: bool = False):
        super().__init__()
        self.model_args = dict(num_classes=num_classes, in_chans=in_chans, init_channels=init_channels,
                               layers=layers, nodes=nodes, stem=stem, stem_multiplier=stem_multiplier,
                               partial_channels=partial_channels, edge_norm=edge_norm)
        self.nodes = nodes
        self.body = CellStack(in_chans, init_channels, layers, stem, stem_multiplier, multiplier=nodes,
                              make_cell=lambda spec: SearchCell(spec, nodes, partial_channels))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(self.body.out_channels, num_classes)
        shape = (num_edges(nodes), len(PRIMITIVES))
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(shape))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(shape))
        self.arch_names = ["alpha_normal", "alpha_reduce"]
        if edge_norm:
            self.beta_normal = nn.Parameter(1e-3 * torch.randn(shape[0]))
            self.beta_reduce = nn.Parameter(1e-3 * torch.randn(shape[0]))
            self.arch_names += ["beta_normal", "beta_reduce"]
        # While the perturbation derivation runs (supernet/derive.py): the ops it has removed or fixed.
        self.projection = None

    def _edge_weights(self, cell: str) -> torch.Tensor | None:
        beta = getattr(self, f"beta_{cell}", None)
        return None if beta is None else node_softmax(beta, self.nodes)

    def _op_weights(self, cell: str) -> torch.Tensor:
        weights = getattr(self, f"alpha_{cell}").softmax(dim=-1)
        return weights if self.projection is None else self.projection.apply(cell, weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        args = {cell: (self._op_weights(cell), self._edge_weights(cell)) for cell in ("normal", "reduce")}
        out, _ = self.body(x, cell_args=lambda cell: args["reduce" if cell.reduction else "normal"])
        return self.classifier(self.pool(out).flatten(1))  # (B, num_classes)

    def weights(self) -> list[nn.Parameter]:
        """Every parameter except the architecture's: what the weight optimiser updates."""
        return [p for name, p in self.named_parameters() if name not in self.arch_names]

    def alphas(self) -> list[nn.Parameter]:
        """The architecture parameters: the alphas, and the edge betas with edge normalisation."""
        return [getattr(self, name) for name in self.arch_names]

    def set_aux_skip(self, weight: float) -> None:
        """The DARTS- auxiliary skip weight of every mixed operation."""
        for m in self.modules():
            if isinstance(m, MixedOp):
                m.aux_skip = weight

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Run each cell's operations again in the backward pass instead of keeping their activations."""
        self.body.set_grad_checkpointing(enable)

    def fuse_convolutions(self, on: bool = True) -> None:
        """Run the first depthwise convolutions of each edge's sep and dil convs as one (mixed_op.py): the same
        math, another speed (docs/benchmarks.md)."""
        for m in self.modules():
            if isinstance(m, MixedOp):
                m.fuse = on

    def genotype(self, name: str = "", meta: dict | None = None, max_skips: int | None = None) -> Genotype:
        edges = {cell: None if w is None else w.detach().cpu() for cell in ("normal", "reduce")
                 for w in [self._edge_weights(cell)]}
        return derive_genotype(self.alpha_normal.detach().cpu(), self.alpha_reduce.detach().cpu(), self.nodes,
                               name=name, meta=meta, edge_normal=edges["normal"], edge_reduce=edges["reduce"],
                               max_skips=max_skips)

    def arch_state(self) -> dict[str, torch.Tensor]:
        """The architecture parameters alone, detached copies on the CPU."""
        return {name: getattr(self, name).detach().cpu().clone() for name in self.arch_names}

    def weight_state(self) -> dict[str, torch.Tensor]:
        """The state dict without the architecture parameters: weights and BatchNorm statistics."""
        return {k: v for k, v in self.state_dict().items() if k not in self.arch_names}

    def load_states(self, weight_state: dict, arch_state: dict) -> None:
        self.load_state_dict({**weight_state, **arch_state})
