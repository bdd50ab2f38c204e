"""Measured latency: the median of repeated timings after a warm-up, and the machine it was measured on."""
from __future__ import annotations

import platform
import statistics
import time
from typing import Callable

import torch

from ..runtime import usable_cpus


def machine(device: torch.device) -> dict:
    """What a latency figure depends on: the processor, the threads, the library versions, the GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "usable_cpus": usable_cpus(), "torch_threads": torch.get_num_threads(),
            "torch": str(torch.__version__), "python": platform.python_version()}
    try:
        import onnxruntime

        info["onnxruntime"] = str(onnxruntime.__version__)
    except ImportError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def median_seconds(call: Callable[[], object], device: torch.device, warmup: int = 3, repeats: int = 10,
                   budget_s: float = 5.0) -> float:
    """The median wall time of `call` over `repeats` timings (fewer, but at least 3, when they would take more than
    `budget_s`), after `warmup` untimed calls. CUDA work is waited for before each clock reading."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        call()
    sync()
    times, start = [], time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def row(backend: str, device: str, batch: int, seconds: float) -> dict:
    """One line of a latency table: milliseconds per image and images per second at this batch size."""
    return {"backend": backend, "device": device, "batch": batch, "ms_per_image": 1000 * seconds / batch,
            "ms_per_batch": 1000 * seconds, "images_per_s": batch / seconds}


@torch.no_grad()
def model_latency(model: torch.nn.Module, shape: tuple[int, int, int], batch_sizes: list[int],
                  device: torch.device, repeats: int = 10) -> list[dict]:
    """Eager PyTorch latency of `model` (eval mode) on random input of `shape` (C, H, W) at each batch size."""
    was_training = model.training
    model.eval()
    rows = []
    for batch in batch_sizes:
        x = torch.randn(batch, *shape, device=device)
        rows.append(row("pytorch", device.type, batch, median_seconds(lambda: model(x), device, repeats=repeats)))
    model.train(was_training)
    return rows
