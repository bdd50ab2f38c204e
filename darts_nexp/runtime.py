"""What every command sets up before it computes: the device, mixed precision, per-epoch seeding and TensorBoard.

Exact resume rests on one rule: everything random in an epoch (data order, augmentation, dropout, drop path) is
drawn from generators reseeded from (seed, epoch) at the start of that epoch, and checkpoints are written at epoch
boundaries. A run resumed from the checkpoint of epoch k therefore replays epochs k+1.. exactly as an
uninterrupted run would.
"""
from __future__ import annotations

import contextlib
import ctypes
import math
import os
import random
import sys
import threading
from pathlib import Path

import numpy as np
import torch

from .errors import UserError
from .io import WriteFailed

DEVICES = ("auto", "cpu", "cuda")


def pick_device(name: str) -> torch.device:
    if name not in DEVICES:
        raise UserError(f"unknown device {name!r}; valid devices are {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but PyTorch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(name)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which containers and taskset narrow), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def set_threads(threads: int | None) -> int:
    """torch's CPU threads: `threads`, or one per usable CPU (shared among torchrun's processes on this node); more
    threads than CPUs only queue behind each other."""
    n = threads or max(1, usable_cpus() // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(n)
    return n


# glibc's mallopt parameters, and the largest block it lets the heap serve on a 64-bit system (half its 64 MiB heap).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
HEAP_BLOCKS_UP_TO = 32 << 20
# What a user sets to choose glibc's behaviour (or another allocator) for themselves.
MALLOC_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_",
                   "LD_PRELOAD")


def keep_freed_memory() -> bool:
    """Have glibc keep the memory that tensors free for the next ones; returns whether it did.

    By default glibc maps large blocks fresh from the kernel and hands them back when freed (or trims them off the
    top of its heap), so each step of a small network faulted in hundreds of MB of zeroed pages again: about 100,000
    page faults and a third of a second of system time in a training step of the demo's network (docs/benchmarks.md,
    "Freed memory kept for reuse"). Serving blocks up to 32 MiB from the heap and never trimming it reuses the same
    pages step after step; the process then holds its peak until it exits (a peak that can be a little higher).
    Larger blocks (a full-resolution batch) are still mapped fresh. Not on other C libraries, nor when the
    environment chooses (MALLOC_SETTINGS, or malloc tunables in GLIBC_TUNABLES)."""
    if sys.platform != "linux" or any(os.environ.get(name) for name in MALLOC_SETTINGS):
        return False
    if "malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    # 1 means done; musl's mallopt is a stub that returns 0.
    return mallopt(M_MMAP_THRESHOLD, HEAP_BLOCKS_UP_TO) == 1 and mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1


def start_runtime(device: str, threads: int | None) -> torch.device:
    """The device of a command, with torch's CPU threads set (see set_threads) and freed memory kept for reuse (see
    keep_freed_memory)."""
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be 1 or more (got {threads}); leave it out for one per usable CPU")
    set_threads(threads)
    keep_freed_memory()
    return pick_device(device)


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


def compile_in_place(model: torch.nn.Module, *methods: str) -> None:
    """torch.compile `model` in place: calling it, and each named method (such as `forward_train`), runs compiled
    code, while its class, attributes and state_dict keys stay as they are, so checkpoints do not depend on it."""
    model.compile()
    for name in methods:
        setattr(model, name, torch.compile(getattr(model, name)))


def seed_epoch(seed: int, epoch: int) -> int:
    """Seed Python, NumPy and torch for one epoch; returns the derived seed (also handy for a data generator)."""
    derived = (seed * 1_000_003 + epoch) % (2**31 - 1)
    random.seed(derived)
    np.random.seed(derived)
    torch.manual_seed(derived)
    return derived


def peak_memory_mb(device: torch.device) -> float:
    """The most memory this process has held so far, in MiB: tensors allocated on a CUDA device, else the peak
    resident size (VmHWM; NaN without /proc). Not ru_maxrss: Linux carries that over from the process image before
    exec, so a subprocess would report its parent's peak."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return math.nan


def memory_note(history: list, device: torch.device) -> str:
    """The summary line of a finished run's peak memory (history entries carry peak_mb)."""
    # Entries of epochs run before darts-nexp recorded peak_mb (a resumed older run) have none.
    peaks = [h["peak_mb"] for h in history if math.isfinite(h.get("peak_mb", math.nan))]
    if not peaks:
        return "peak memory not known on this system"
    peak = max(peaks)
    where = "allocated on the GPU" if device.type == "cuda" else "resident, whole process"
    return f"peak memory {peak:,.0f} MiB ({where})"


class Events:
    """TensorBoard's SummaryWriter on a run directory, as the runs use it. A failed write of the event file (a full
    disk, a read-only folder) becomes one WriteFailed, like that of any other file."""

    def __init__(self, run_dir: Path):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from torch.utils.tensorboard import SummaryWriter

        self.files = Path(run_dir) / "events.out.tfevents.*"
        with self._writing():
            self._writer = SummaryWriter(log_dir=str(run_dir))
        self._thread_hook, threading.excepthook = threading.excepthook, self._quiet_writer_thread  # until close()

    def _quiet_writer_thread(self, args) -> None:
        """TensorBoard's writer thread keeps the exception it dies of and raises it again at the writer's next call,
        where it becomes one line; the thread's own traceback would only repeat it."""
        if type(args.thread).__name__ != "_AsyncWriterThread":
            self._thread_hook(args)

    @contextlib.contextmanager
    def _writing(self):
        try:
            yield
        except OSError as e:  # raised in the writer's thread, and again here
            raise WriteFailed(self.files, e) from None

    def add_scalar(self, tag: str, value, step: int) -> None:
        with self._writing():
            self._writer.add_scalar(tag, value, step)

    def add_text(self, tag: str, text: str, step: int) -> None:
        with self._writing():
            self._writer.add_text(tag, text, step)

    def flush(self) -> None:
        with self._writing():
            self._writer.flush()

    def close(self) -> None:
        try:
            with self._writing():
                self._writer.close()
        finally:
            threading.excepthook = self._thread_hook
