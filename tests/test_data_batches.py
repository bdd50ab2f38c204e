"""The batch iterator: shapes, normalisation, exact replay per (seed, epoch), and augmentation on the device."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from darts_nexp.data import AugmentConfig, Batches, ImageSet
from darts_nexp.data.batches import MEAN, STD, augment


def _set(n=10, c=1, h=12, w=12):
    rng = np.random.default_rng(0)
    return ImageSet("t", rng.integers(0, 256, (n, c, h, w), dtype=np.uint8), np.arange(n) % 2,
                    [f"i{k}" for k in range(n)], np.full((n, 4), np.nan, dtype=np.float32))


def _epoch(b, epoch):
    b.set_epoch(epoch)
    return [(x.clone(), y.clone()) for x, y in b]


def test_shapes_lengths_and_normalisation():
    s = _set()
    b = Batches(s, 4, "cpu", shuffle=False, seed=0)
    out = list(b)
    assert len(b) == len(out) == 3 and [len(y) for _, y in out] == [4, 4, 2]
    x, y = out[0]
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (4, 1, 12, 12)
    assert torch.allclose(x, (torch.from_numpy(s.images[:4]).float() / 255 - MEAN) / STD)
    assert y.tolist() == [0, 1, 0, 1]
    assert len(Batches(s, 4, "cpu", shuffle=True, seed=0, drop_last=True)) == 2


def test_epoch_is_a_pure_function_of_seed_and_epoch():
    s = _set(20)
    a = Batches(s, 8, "cpu", shuffle=True, seed=3, augment=AugmentConfig())
    b = Batches(s, 8, "cpu", shuffle=True, seed=3, augment=AugmentConfig())
    _epoch(b, 0)  # b has run an epoch before; a starts fresh, as after a resume
    for (xa, ya), (xb, yb) in zip(_epoch(a, 1), _epoch(b, 1)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(_epoch(a, 1)[0][0], _epoch(a, 2)[0][0])
    labels = torch.cat([y for _, y in _epoch(a, 5)])
    assert sorted(labels.tolist()) == sorted(s.labels.tolist())  # every image once per epoch


def test_disabled_augmentation_is_identity():
    s = _set()
    plain = _epoch(Batches(s, 5, "cpu", True, 0), 0)
    off = _epoch(Batches(s, 5, "cpu", True, 0, augment=AugmentConfig(enabled=False)), 0)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(plain, off))


def test_augment_ops():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 10, 10)
    y = augment(x, AugmentConfig(shift=0, hflip=False, vflip=False, brightness=0, contrast=0), g)
    assert torch.equal(x, y)
    y = augment(x, AugmentConfig(shift=2, hflip=False, vflip=False, brightness=0, contrast=0), g)
    assert y.shape == x.shape
    # an edge-padded shift of at most 2 keeps every 6x6 centre pixel inside the source window
    for k in range(6):
        found = any(torch.equal(y[k, :, 2:8, 2:8], x[k, :, 2 + dy:8 + dy, 2 + dx:8 + dx])
                    for dy in range(-2, 3) for dx in range(-2, 3))
        assert found
    y = augment(x, AugmentConfig(shift=0, hflip=True, vflip=True, brightness=0.2, contrast=0.2), g)
    assert y.min() >= 0 and y.max() <= 1 and y.shape == x.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    s = _set(16, c=3)
    cpu = _epoch(Batches(s, 8, "cpu", True, 1, augment=AugmentConfig()), 0)
    gpu = _epoch(Batches(s, 8, "cuda", True, 1, augment=AugmentConfig()), 0)
    for (xc, yc), (xg, yg) in zip(cpu, gpu):
        assert xg.is_cuda and torch.allclose(xc, xg.cpu(), atol=1e-5) and torch.equal(yc, yg.cpu())
