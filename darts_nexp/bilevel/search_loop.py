"""One epoch of the DARTS search (Liu et al., 2018, Algorithm 1): alternate an architecture step on a batch of the
architecture half with an SGD weight step on a batch of the weight half."""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F

from ..distributed import SINGLE, Ranks
from ..loops import fit_epoch
from .architect import Architect


def _endless(batches):
    """Cycle through `batches` without caching them (the two halves may differ in length by a batch)."""
    while True:
        yield from batches


def weight_step(model, batch, optimizer: torch.optim.Optimizer, grad_clip: float, ranks: Ranks = SINGLE,
                autocast=contextlib.nullcontext) -> tuple[float, torch.Tensor]:
    """One SGD step on the weights only (the alphas get no gradient here); returns (loss, logits)."""
    x, y = batch
    weights = model.weights()
    optimizer.zero_grad(set_to_none=True)
    with autocast():
        logits = model(x)
    logits = logits.float()
    loss = F.cross_entropy(logits, y)
    torch.autograd.backward(loss, inputs=weights)
    ranks.mean_([w.grad for w in weights])
    torch.nn.utils.clip_grad_norm_(weights, grad_clip)
    optimizer.step()
    return loss.item(), logits.detach()


def search_epoch(model, architect: Architect, weight_optimizer: torch.optim.Optimizer, weight_batches, arch_batches,
                 eta: float, epoch: int, grad_clip: float = 5.0, desc: str = "search", progress: bool = True,
                 arch_steps: bool = True) -> dict:
    """Run one epoch (`epoch` counted from 1); eta is the current weight learning rate (the second-order virtual
    step uses it). Without `arch_steps` (a warm-up epoch, as in PC-DARTS) only the weights train.

    Returns the mean training loss and AUC on the weight half, and the mean architecture-step loss (NaN in a
    warm-up epoch).
    """
    model.train()
    arch_iter = _endless(arch_batches)

    def step(batch):
        losses = {}
        if arch_steps:
            losses["arch_loss"] = architect.step(batch, next(arch_iter), eta, weight_optimizer)
        loss, logits = weight_step(model, batch, weight_optimizer, grad_clip, architect.ranks, architect.autocast)
        return {"train_loss": loss, **losses}, logits

    return {"arch_loss": math.nan, **fit_epoch(weight_batches, step, epoch, desc, progress)}
