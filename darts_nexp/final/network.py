"""The network trained from scratch on a searched genotype (Liu et al., 2018, section 3.3 and appendix A.2).

A stem, then `layers` copies of the genotype's cells with reductions at 1/3 and 2/3 of the depth (the shared
`space.skeleton.CellStack`), global average pooling and a linear classifier. An auxiliary classifier
(Szegedy et al., 2015) reads the output of the cell at 2/3 of the depth during training. Both heads pool
adaptively, so any input size from about 16 px up works (the reference code's fixed 7x7/8x8 pools do not).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..space import CellStack, Genotype, aux_layer
from .cells import Cell, check_buildable


class AuxiliaryHead(nn.Module):
    """The auxiliary classifier: pool to 2x2, 1x1 conv to 128, 2x2 conv to 768, linear.

    The reference pools with a fixed AvgPool2d(5) that only fits 7x7 or 8x8 maps; pooling adaptively to 2x2 gives a
    2x2 grid (with slightly different windows) at those sizes, and at any other. The BatchNorm after the 768 conv is kept for both
    styles (the reference's ImageNet head lacks it, by its author's note a typo). It is not counted in the sizes.
    """

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )  # (B, 768, 1, 1)
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class FinalNetwork(nn.Module):
    """The discrete network of `genotype` for (B, in_chans, H, W) images.

    init_channels is C, the channels per node of the first cells (doubled at each reduction); layers is the number
    of cells; stem "imagenet" (stride-2 convs to 1/8 resolution, the paper's ImageNet network) or "cifar" (a 3x3
    conv with stem_multiplier * C channels at full resolution). auxiliary adds the auxiliary head;
    drop_path_rate is the largest drop-path probability, of which the trainer sets a fraction in `drop_prob`.
    """

    def __init__(self, genotype: Genotype, num_classes: int = 2, in_chans: int = 1, init_channels: int = 48,
                 layers: int = 14, stem: str = "imagenet", stem_multiplier: int = 3, auxiliary: bool = True,
                 drop_path_rate: float = 0.0):
        super().__init__()
        check_buildable(genotype)
        self.genotype = genotype
        self.model_args = dict(num_classes=num_classes, in_chans=in_chans, init_channels=init_channels,
                               layers=layers, stem=stem, stem_multiplier=stem_multiplier, auxiliary=auxiliary,
                               drop_path_rate=drop_path_rate)
        self.drop_prob = drop_path_rate
        self.body = CellStack(in_chans, init_channels, layers, stem, stem_multiplier,
                              multiplier=len(genotype.normal_concat), make_cell=lambda spec: Cell(genotype, spec))
        self.aux_tap = aux_layer(layers)
        self.aux_head = AuxiliaryHead(self.body.specs[self.aux_tap].C_out, num_classes) if auxiliary else None
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(self.body.out_channels, num_classes)

    def _run(self, x: torch.Tensor, taps: tuple[int, ...]):
        out, tapped = self.body(x, cell_args=lambda cell: (self.drop_prob,), taps=taps)
        return self.classifier(self.pool(out).flatten(1)), tapped  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, ())[0]

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, auxiliary logits or None when the network has no auxiliary head)."""
        if self.aux_head is None:
            return self.forward(x), None
        logits, tapped = self._run(x, (self.aux_tap,))
        return logits, self.aux_head(tapped[self.aux_tap])

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Run each cell's operations again in the backward pass instead of keeping their activations."""
        self.body.set_grad_checkpointing(enable)

    def spec(self) -> dict:
        """What rebuilds this network, as a training checkpoint stores it (see runs.py)."""
        return {"name": "darts", "args": dict(self.model_args), "genotype": self.genotype.to_dict()}

