"""Model size as papers report it: parameters without the auxiliary head, and multiply-adds of one image.

Multiply-adds count every Conv2d (output elements x input channels per group x kernel area) and Linear
(in x out) in one forward pass of a single image in eval mode, so the auxiliary head is left out. BatchNorm,
ReLU, pooling, additions and drop path are not counted; biases are not counted. This gives about 530M for
the ImageNet DARTS_V2 network at 224x224 against the paper's 574M (others report 523-545M).
"""
from __future__ import annotations

import torch
import torch.nn as nn


def param_count(model: nn.Module) -> int:
    """Parameters of the model without its auxiliary head (the number the DARTS paper reports)."""
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith("aux_head."))


@torch.no_grad()
def multiply_adds(model: nn.Module, image_size: tuple[int, int], in_chans: int) -> int:
    """Multiply-adds of one (1, in_chans, H, W) image through `model` in eval mode (see the module docstring)."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * (module.in_channels // module.groups) * k
        else:
            total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros(1, in_chans, *image_size, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total
