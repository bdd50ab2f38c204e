"""Images per second the batch iterator delivers, augmentation on, from the memory-mapped cache.

    python benchmarks/data_throughput.py [--data-dir data/synthetic] [--device cpu] [--batches 60] [--threads N]

Measures 64x64 at batch 16 (the search demo) and 267x275 at batch 32 (full resolution), each with and without
augmentation, after one warm-up epoch so the cache is built and the page cache is warm.
"""
from __future__ import annotations

import argparse
import itertools
import time

import torch

from darts_nexp.data import AugmentConfig, Batches, DataConfig, load_dataset


def rate(images, batch_size: int, device: str, augment, n_batches: int) -> float:
    batches = Batches(images, batch_size, device, shuffle=True, seed=0, augment=augment)
    for _ in itertools.islice(batches, 3):  # warm-up
        pass
    batches.set_epoch(1)
    t0, n = time.perf_counter(), 0
    for x, _ in itertools.islice(batches, n_batches):
        n += len(x)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="data/synthetic")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {a.device}")
    for size, batch in (([64, 64], 16), ([267, 275], 32)):
        train = load_dataset(DataConfig(data_dir=a.data_dir, image_size=size)).train
        for aug in (AugmentConfig(), None):
            r = rate(train, batch, a.device, aug, a.batches)
            print(f"{size[0]}x{size[1]} batch {batch} augment {'on ' if aug else 'off'}: {r:,.0f} images/s")


if __name__ == "__main__":
    main()
