"""One training epoch of the final network (Liu et al., 2018, appendix A.2): SGD on the main loss plus the weighted
auxiliary loss, gradient clipping, and optional mixed precision on CUDA."""
from __future__ import annotations

import contextlib

import torch

from ..distributed import SINGLE, Ranks
from ..loops import fit_epoch

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Amp:
    """Mixed precision on CUDA (autocast, plus a GradScaler for fp16); a no-op on the CPU or when disabled."""

    def __init__(self, device: torch.device, enabled: bool, dtype: str = "bf16"):
        self.enabled = enabled and device.type == "cuda"
        self.dtype = AMP_DTYPES[dtype]
        # bf16 has fp32's exponent range, so only fp16 needs its loss scaled.
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.enabled and dtype == "fp16")
        self.device_type = device.type

    def autocast(self):
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


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
