"""The loops every learning run shares: one pass of training steps over a data set, and scoring a data set.

The search (bilevel/search_loop.py) and final training (final/trainer.py) differ only in what one step does; the
bookkeeping around it (progress bar, running losses, defect scores, train AUC, and stopping at the first loss
that is not a number) lives here once.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .distributed import SINGLE, Ranks
from .errors import Diverged
from .metrics import auc


def defect_scores(logits: torch.Tensor) -> np.ndarray:
    """P(defect) of (B, 2) logits, in float64: a confident float32 softmax rounds to exactly 1.0, and tied scores
    blur the ranking that AUC measures."""
    return logits.detach().double().softmax(dim=1)[:, 1].cpu().numpy()


# A cross-entropy this large means logits a thousand apart on the wrong side: no training comes back from there.
LOSS_LIMIT = 1e3


def weight_optimizer(name: str, params, lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    """The weight optimiser of both commands (`--optimizer`): sgd with momentum, as in DARTS, or adamw, whose weight
    decay is decoupled. `params` may be parameter groups."""
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def check_loss(value: float, what: str, epoch: int) -> None:
    """Raise Diverged when a loss is not a number, infinite, or beyond LOSS_LIMIT."""
    if not math.isfinite(value) or value > LOSS_LIMIT:
        raise Diverged(f"the {what} became {value:.4g} in epoch {epoch}: the run diverged")


def fit_epoch(batches, step, epoch: int, desc: str, progress: bool = True) -> dict:
    """Call `step(batch) -> (losses, logits)` on every batch; `losses` maps names (say "train_loss") to floats.

    Returns the mean of every loss and the AUC of the logits' defect scores ("train_auc"). Raises Diverged, naming
    the loss and the epoch (counted from 1), as soon as a loss is not finite or absurdly large.
    """
    sums: dict[str, float] = {}
    scores, labels = [], []
    bar = tqdm(batches, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    for batch in bar:
        losses, logits = step(batch)
        for name, value in losses.items():
            check_loss(value, name.replace("_", " "), epoch)
            sums[name] = sums.get(name, 0.0) + value
        scores.append(defect_scores(logits))
        labels.append(batch[1].cpu().numpy())
        bar.set_postfix(loss=f"{next(iter(losses.values())):.3f}")
    steps = max(len(scores), 1)
    return {**{k: v / steps for k, v in sums.items()},
            "train_auc": auc(np.concatenate(labels), np.concatenate(scores)) if scores else math.nan}


@torch.no_grad()
def predict(model: torch.nn.Module, batches, epoch: int | None = None, ranks: Ranks = SINGLE
            ) -> tuple[float, np.ndarray, np.ndarray]:
    """(mean cross-entropy, defect scores, labels) of a model over an iterable of (x, y) batches, in eval mode.

    Batches with unknown labels (-1) still get scores; they are left out of the loss. Raises Diverged when the model
    gives scores that are not numbers (a diverged network), so that no metric is ever computed from them; `epoch`,
    when given, is named in that message. Under torchrun, `batches` holds this rank's share (`ranks.shard`) and the
    result is the whole set's, on every rank.
    """
    was_training = model.training
    model.eval()
    losses, scores, labels = [], [], []
    for x, y in batches:
        logits = model(x).float()  # (B, 2)
        known = y >= 0
        if known.any():
            losses.append(F.cross_entropy(logits[known], y[known], reduction="sum").item())
        scores.append(defect_scores(logits))
        labels.append(y.cpu().numpy())
    model.train(was_training)
    scores = np.concatenate(scores) if scores else np.zeros(0, np.float64)
    labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    scores, labels = ranks.gather((scores, labels))
    [loss_sum] = ranks.sum([sum(losses)])
    if not np.isfinite(scores).all():
        when = f" after epoch {epoch}" if epoch is not None else ""
        raise Diverged(f"the network gives non-finite scores{when} for {int((~np.isfinite(scores)).sum())} of "
                       f"{len(scores)} images: its weights diverged")
    n_known = int((labels >= 0).sum())
    loss = loss_sum / n_known if n_known else math.nan
    if n_known and epoch is not None:
        check_loss(loss, "validation loss", epoch)
    return loss, scores, labels
