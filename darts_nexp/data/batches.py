"""Batches from memory, augmented as whole batches on the model's device.

The order and the augmentation of an epoch are drawn from a CPU generator seeded from (seed, epoch) alone, so an
epoch replays exactly after a resume, on any device.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..distributed import SINGLE, Ranks
from .config import AugmentConfig
from .imageset import ImageSet

MEAN, STD = 0.5, 0.25  # fixed, so evaluation needs no statistics of the training set


def normalise(x: torch.Tensor) -> torch.Tensor:
    """uint8 or 0..255 float (B, C, H, W) -> float32 model input."""
    return (x.float() / 255 - MEAN) / STD


def augment(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Random shift (edge padded), flips, brightness and contrast; x is (B, C, H, W) float in 0..1 on any device."""
    b, _, h, w = x.shape
    dev = x.device
    if cfg.shift > 0:
        s = cfg.shift
        dy, dx = (torch.randint(0, 2 * s + 1, (2, b), generator=g)).to(dev)
        padded = F.pad(x, (s, s, s, s), mode="replicate")  # (B, C, H+2s, W+2s)
        rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]  # (B, 1, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]  # (B, 1, 1, W)
        batch = torch.arange(b, device=dev)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=dev)[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    if cfg.hflip:
        flip = (torch.rand(b, generator=g) < 0.5).to(dev)[:, None, None, None]
        x = torch.where(flip, x.flip(-1), x)
    if cfg.vflip:
        flip = (torch.rand(b, generator=g) < 0.5).to(dev)[:, None, None, None]
        x = torch.where(flip, x.flip(-2), x)
    if cfg.brightness > 0 or cfg.contrast > 0:
        gain = (1 + (torch.rand(b, generator=g) * 2 - 1) * cfg.contrast).to(dev)[:, None, None, None]
        bias = ((torch.rand(b, generator=g) * 2 - 1) * cfg.brightness).to(dev)[:, None, None, None]
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * gain + mean + bias).clamp(0, 1)
    return x


class Batches:
    """Iterate (x, y) over an ImageSet: x (B, C, H, W) float32 normalised, y (B,) int64, both on `device`.

    Under torchrun (`ranks` of several), every rank draws the same order and takes its share of each global batch
    of world x batch_size images; the incomplete last global batch is dropped, since a rank without a share would
    leave the others waiting for its gradients.
    """

    def __init__(self, images: ImageSet, batch_size: int, device, shuffle: bool, seed: int,
                 augment: AugmentConfig | None = None, drop_last: bool = False, ranks: Ranks = SINGLE):
        self.images, self.batch_size, self.device = images, batch_size, torch.device(device)
        self.shuffle, self.seed, self.ranks = shuffle, seed, ranks
        self.drop_last = drop_last or ranks.world > 1
        self.augment = augment if augment is not None and augment.enabled else None
        self.labels = torch.from_numpy(np.asarray(images.labels, dtype=np.int64))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n, size = len(self.images), self.batch_size * self.ranks.world
        return n // size if self.drop_last else -(-n // size)

    def _generator(self, *more: int) -> torch.Generator:
        entropy = [self.seed, self.epoch, *more]
        seed = int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)
        return torch.Generator().manual_seed(seed)

    def __iter__(self):
        g = self._generator()
        n, b, rank = len(self.images), self.batch_size, self.ranks.rank
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        # The order is shared by all ranks; each augments its own share with a generator of its own.
        g_augment = g if self.ranks.world == 1 else self._generator(rank)
        pin = self.device.type == "cuda"
        for k in range(len(self)):
            start = k * b * self.ranks.world + rank * b
            idx = np.sort(order[start: start + b].numpy())  # sorted: memmap reads
            x = torch.from_numpy(np.ascontiguousarray(self.images.images[idx]))
            x = (x.pin_memory() if pin else x).to(self.device, non_blocking=True)
            y = self.labels[idx].to(self.device, non_blocking=True)
            if self.augment is not None:
                x = augment(x.float() / 255, self.augment, g_augment) * 255
            yield normalise(x), y
