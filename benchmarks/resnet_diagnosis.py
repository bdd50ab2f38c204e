"""Why resnet18 from scratch did not learn the synthetic set at the demo budget (docs/benchmarks.md, the seeds'
toolbox): can it fit a few images at all, and with which optimiser and augmentation?

    python benchmarks/resnet_diagnosis.py [--data-dir data/synthetic] [--threads 2]

On 128 training images (64 of each class) at 64x64, 12 epochs of batch 32, it prints the training AUC (eval mode)
of: the factory's resnet18 with the demo's SGD (lr 0.025, momentum 0.9) without augmentation, a plain torchvision
resnet18 fed the gray image in 3 channels with the same SGD, the factory's resnet18 with Adam (lr 1e-3), and the
factory's resnet18 with the demo's SGD and the default augmentation. Then 3 epochs on the whole training split
with the stem's max-pool removed (the demo's SGD and augmentation), with validation AUC.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from darts_nexp.data import Batches, DataConfig, train_splits
from darts_nexp.loops import predict
from darts_nexp.metrics import auc
from darts_nexp.models import create_model


class ThreeChannels(nn.Module):
    """A plain torchvision model fed the gray image copied into R, G and B."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.expand(-1, 3, -1, -1))


def fit(model, images, epochs: int, optimizer, augment, val=None, tag: str = "") -> None:
    batches = Batches(images, 32, "cpu", shuffle=True, seed=0, augment=augment, drop_last=True)
    start = time.time()
    for epoch in range(epochs):
        batches.set_epoch(epoch)
        model.train()
        for x, y in batches:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y, label_smoothing=0.1).backward()
            optimizer.step()
    _, scores, labels = predict(model, Batches(images, 64, "cpu", False, 0))
    line = f"{tag}: training AUC {auc(labels, scores):.3f}"
    if val is not None:
        _, scores, labels = predict(model, Batches(val, 64, "cpu", False, 0))
        line += f", validation AUC {auc(labels, scores):.3f}"
    print(f"{line} ({time.time() - start:.0f} s)", flush=True)


def sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="data/synthetic")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = DataConfig(data_dir=args.data_dir, image_size=[64, 64])
    splits = train_splits(cfg, 0)
    labels = splits.train.labels
    few = splits.train.subset(np.concatenate([np.flatnonzero(labels == 0)[:64], np.flatnonzero(labels == 1)[:64]]),
                              "few")
    runs = [
        ("factory resnet18, SGD, no augmentation", lambda: create_model("resnet18"), sgd, None),
        ("torchvision resnet18 on 3 gray channels, SGD, no augmentation",
         lambda: ThreeChannels(torchvision.models.resnet18(num_classes=2)), sgd, None),
        ("factory resnet18, Adam 1e-3, no augmentation", lambda: create_model("resnet18"),
         lambda m: torch.optim.Adam(m.parameters(), lr=1e-3), None),
        ("factory resnet18, SGD, demo augmentation", lambda: create_model("resnet18"), sgd, cfg.augment),
    ]
    for tag, build, optimizer, augment in runs:
        torch.manual_seed(0)
        model = build()
        fit(model, few, 12, optimizer(model), augment, tag=f"128 images, 12 epochs, {tag}")
    torch.manual_seed(0)
    model = create_model("resnet18")
    model.net.maxpool = nn.Identity()
    fit(model, splits.train, 3, sgd(model), cfg.augment, splits.val,
        tag="all training images, 3 epochs, resnet18 without its max-pool, SGD, demo augmentation")


if __name__ == "__main__":
    main()
