"""One training epoch of the final network (Liu et al., 2018, appendix A.2): SGD on the main loss plus the weighted
auxiliary loss, gradient clipping, and optional mixed precision on CUDA."""
from __future__ import annotations

import torch

from ..distributed import SINGLE, Ranks
from ..loops import fit_epoch
from ..runtime import Amp

def train_epoch(model, batches, optimizer: torch.optim.Optimizer, criterion, aux_weight: float, grad_clip: float,
                amp: Amp, epoch: int, desc: str = "train", progress: bool = True, ranks: Ranks = SINGLE) -> dict:
    """Train on every batch once; returns the mean loss (main + aux_weight * auxiliary), main loss and train AUC."""
    model.train()

    def step(batch):
        x, y = batch
        optimizer.zero_grad(set_to_none=True)
        with amp.autocast():
            logits, aux_logits = model.forward_train(x)
        main = criterion(logits, y)
        loss = main if aux_logits is None else main + aux_weight * criterion(aux_logits, y)
        amp.scaler.scale(loss).backward()
        ranks.mean_([p.grad for p in model.parameters()])
        amp.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        amp.scaler.step(optimizer)
        amp.scaler.update()
        return {"train_loss": loss.item(), "train_main_loss": main.item()}, logits

    return fit_epoch(batches, step, epoch, desc, progress)
