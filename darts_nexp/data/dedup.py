"""Exact and near duplicates (Chen, Shi and Gao's report found them across the contest's splits by hashing).

Exact copies share the sha1 of their file bytes. Near copies (re-encoded, re-exposed, a fresh shot of noise) share
most bits of a perceptual hash: the 16x16 lowest-frequency DCT coefficients of the image shrunk to 32x32, each
compared with their median (pHash). Pairs whose hashes differ in at most `NEAR_BITS` of the 256 bits are candidates,
confirmed when the images shrunk to 16x16, less each one's mean, differ by at most `NEAR_MAD` gray levels on average.
Why both: every picture of one part type looks alike at low frequencies, so on the synthetic set distinct images
came as close as 4 bits while noisy copies reached 8 (the usual 64-bit pHash even put distinct images at 0); the
pixel check then separates them cleanly (copies <= 0.45 gray levels, distinct images >= 1.6).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F

NEAR_BITS = 16
NEAR_MAD = 1.0
CHUNK = 256


def shrink(images: np.ndarray, size: int) -> np.ndarray:
    """(N, C, H, W) uint8 -> (N, size, size) float32 block means of the first channel."""
    out = np.empty((len(images), size, size), dtype=np.float32)
    for s in range(0, len(images), CHUNK):
        x = torch.from_numpy(np.array(images[s: s + CHUNK, :1], dtype=np.float32))
        out[s: s + len(x)] = F.adaptive_avg_pool2d(x, size)[:, 0].numpy()
    return out


def phash(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) uint8 -> (N, 4) uint64: 256-bit perceptual hashes of the first channel."""
    low = scipy.fft.dctn(shrink(images, 32), axes=(1, 2), norm="ortho")[:, :16, :16].reshape(len(images), 256)
    bits = low > np.median(low[:, 1:], axis=1, keepdims=True)  # the DC term would dominate the median
    return np.packbits(bits, axis=1).view(np.uint64)


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _close(small: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(M,) bool: whether shrunk images i and j match up to a brightness offset and a little noise."""
    a, b = small[i], small[j]  # (M, 16, 16)
    a, b = a - a.mean(axis=(1, 2), keepdims=True), b - b.mean(axis=(1, 2), keepdims=True)
    return np.abs(a - b).mean(axis=(1, 2)) <= NEAR_MAD


def duplicate_groups(digests: list[str], images: np.ndarray) -> list[list[int]]:
    """Groups (sorted lists of indices, two or more each) of images that are exact or near copies of each other."""
    n = len(digests)
    parent = list(range(n))

    def union(i: int, j: int) -> None:
        parent[_find(parent, j)] = _find(parent, i)

    first: dict[str, int] = {}
    for i, d in enumerate(digests):
        if d:
            union(first.setdefault(d, i), i)
    hashes, small = phash(images), shrink(images, 16)
    for s in range(0, n, CHUNK):
        dist = sum(np.bitwise_count(hashes[s: s + CHUNK, None, k] ^ hashes[None, s:, k]) for k in range(4))
        rows, cols = np.nonzero(dist <= NEAR_BITS)  # (chunk, N - s): only pairs from row s on
        rows, cols = rows + s, cols + s
        pairs = cols > rows
        rows, cols = rows[pairs], cols[pairs]
        for i, j in zip(*(k[_close(small, rows, cols)].tolist() for k in (rows, cols))):
            union(i, j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(_find(parent, i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


@dataclass
class DuplicateReport:
    groups: list[list[tuple[str, str]]]  # each group as (split name, id) pairs
    within: Counter  # split name -> images that copy another image of the same split
    across: Counter  # "a/b" -> groups spanning splits a and b
    conflicting: int  # groups whose known labels disagree (label noise)

    def lines(self) -> list[str]:
        extra = sum(len(g) - 1 for g in self.groups)
        out = [f"duplicates: {len(self.groups)} group(s), {extra} redundant image(s) (exact, or near: pHash "
               f"within {NEAR_BITS}/256 bits and pixels within {NEAR_MAD} gray levels); "
               f"{self.conflicting} group(s) with conflicting labels"]
        out += [f"  within {k}: {v} redundant" for k, v in sorted(self.within.items()) if v]
        out += [f"  across {k}: {v} group(s)" for k, v in sorted(self.across.items())]
        return out


def duplicate_report(sets) -> DuplicateReport:
    """Duplicates inside and across several ImageSets (say train and test, or the splits of a run)."""
    names = [s.name for s in sets for _ in range(len(s))]
    ids = [i for s in sets for i in s.ids]
    labels = np.concatenate([s.labels for s in sets]) if sets else np.zeros(0, dtype=np.int64)
    digests = [d for s in sets for d in (s.digests or [""] * len(s))]
    images = np.concatenate([s.images[:, :1] for s in sets]) if sets else np.zeros((0, 1, 8, 8), dtype=np.uint8)
    groups = duplicate_groups(digests, images)
    within, across, conflicting = Counter(), Counter(), 0
    for g in groups:
        per = Counter(names[i] for i in g)
        for name, k in per.items():
            within[name] += k - 1
        if len(per) > 1:
            across["/".join(sorted(per))] += 1
        known = {int(labels[i]) for i in g} - {-1}
        conflicting += len(known) > 1
    return DuplicateReport([[(names[i], ids[i]) for i in g] for g in groups], within, across, conflicting)


def redundant(images, digests) -> np.ndarray:
    """(N,) bool: True for every member of a duplicate group but its first, i.e. the images to drop."""
    drop = np.zeros(len(digests), dtype=bool)
    for g in duplicate_groups(digests, images):
        drop[g[1:]] = True
    return drop
