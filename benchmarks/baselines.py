"""Test AUC of two simple baselines on the synthetic set, to show that it is hard enough for architecture to matter.

    python benchmarks/baselines.py [--data-dir data/synthetic] [--epochs 10] [--seed 0]

(a) logistic regression on raw pixels; (b) a 2-layer CNN trained from scratch with the package's batch iterator.
Both train on the whole train folder and are scored on the synthetic test folder with its true labels.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn as nn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from darts_nexp.data import AugmentConfig, Batches, DataConfig, load_dataset


def logistic(train, test, seed: int) -> float:
    flat = lambda s: s.images.reshape(len(s), -1).astype(np.float32) / 255  # noqa: E731
    clf = LogisticRegression(C=0.01, max_iter=2000, random_state=seed).fit(flat(train), train.labels)
    return roc_auc_score(test.labels, clf.predict_proba(flat(test))[:, 1])


def small_cnn(in_chans: int, size: tuple[int, int]) -> nn.Module:
    """Two conv layers, each pooled by 4, and a linear layer on the (32, H/16, W/16) map.

    A global max or average pool after two conv layers learned nothing here (it could not even fit 256 images):
    part edges and leads swamp the pooled features. The linear layer can tell where on the part a response is.
    """
    return nn.Sequential(
        nn.Conv2d(in_chans, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(4),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(4),
        nn.Flatten(), nn.Linear(32 * (size[0] // 16) * (size[1] // 16), 2))


def cnn(train, test, epochs: int, seed: int) -> float:
    torch.manual_seed(seed)
    model = small_cnn(train.images.shape[1], train.images.shape[2:])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    batches = Batches(train, 32, "cpu", shuffle=True, seed=seed, augment=AugmentConfig())
    for epoch in range(epochs):
        batches.set_epoch(epoch)
        model.train()
        for x, y in batches:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        scores = torch.cat([model(x).softmax(1)[:, 1] for x, _ in Batches(test, 256, "cpu", False, seed)])
    return roc_auc_score(test.labels, scores.numpy())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="data/synthetic")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    ds = load_dataset(DataConfig(data_dir=a.data_dir))
    print(f"train {len(ds.train)} ({int(ds.train.labels.sum())} defect), test {len(ds.test)} "
          f"({int(ds.test.labels.sum())} defect), {ds.train.images.shape[2]}x{ds.train.images.shape[3]}")
    t0 = time.time()
    print(f"(a) logistic regression on raw pixels: test AUC {logistic(ds.train, ds.test, a.seed):.3f} "
          f"({time.time() - t0:.0f}s)")
    t0 = time.time()
    print(f"(b) 2-layer CNN, {a.epochs} epochs: test AUC {cnn(ds.train, ds.test, a.epochs, a.seed):.3f} "
          f"({time.time() - t0:.0f}s)")


if __name__ == "__main__":
    main()
