"""Several processes, one per device, under torchrun (docs/distributed.md).

    torchrun --standalone --nproc_per_node N -m darts_nexp search ...        (and the same for train)

Every rank holds the whole network and the same alphas; each global batch of N x batch_size images is cut into one
share per rank, and after every backward pass the gradients (of the weights, and of the alphas in the architecture
step) are averaged over the ranks, so that N ranks at batch B take the steps of one process at batch N x B (up to
BatchNorm, whose statistics are per rank). No DistributedDataParallel wrapper is used: the architecture step asks
autograd for gradients directly (torch.autograd.grad), which DDP's hooks never see, and the same explicit average
serves both kinds of step. Rank 0 alone writes the run directory; the genotype is compared across ranks every epoch.

Without torchrun (no WORLD_SIZE in the environment) everything here is a no-op on one process.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from .errors import RankError, UserError
from .launcher import launch_rank, launched

# A rank that dies mid-step leaves the others waiting in a collective; they give up after this long (torchrun
# normally ends them sooner, as soon as it sees the dead one).
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=10)


@dataclass
class Ranks:
    """This process's place among the ranks; `world` 1 is a plain single-process run."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean_(self, tensors) -> None:
        """Average tensors over the ranks, in place, in one collective."""
        tensors = [t for t in tensors if t is not None]
        if self.world == 1 or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for t in tensors:
            t.copy_(flat[offset: offset + t.numel()].view_as(t))
            offset += t.numel()

    def mean_buffers_(self, model: torch.nn.Module) -> None:
        """Average the floating-point buffers (BatchNorm running statistics), which each rank gathers from its own
        share of the data, so that every rank evaluates the same network."""
        self.mean_([b for b in model.buffers() if b.is_floating_point()])

    def copy_from_main_(self, model: torch.nn.Module) -> None:
        """Give every rank rank 0's parameters and buffers."""
        if self.world == 1:
            return
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src=0)

    def from_main(self, value):
        """Rank 0's `value`, on every rank (any picklable object)."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def main_first(self, fn):
        """fn() on rank 0, then on the others: for work that writes shared files (the synthetic set, the image
        cache) on its first call and only reads them afterwards."""
        if self.is_main:
            out = fn()
            self.barrier()
            return out
        self.barrier()
        return fn()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def agree(self, value, what: str) -> None:
        """Fail loudly unless every rank holds the same `value` (a genotype, say)."""
        if self.world == 1:
            return
        values = [None] * self.world
        dist.all_gather_object(values, value)
        odd = [r for r, v in enumerate(values) if v != values[0]]
        if odd:
            raise UserError(f"rank {odd[0]} holds another {what} than rank 0; the ranks drifted apart, which is a bug "
                            f"of darts-nexp: please report it with the command line")

    def shard(self, images):
        """Every world-th image from this rank's index on: this rank's share of a set it scores (see gather)."""
        return images if self.world == 1 else images.subset(np.arange(self.rank, len(images), self.world),
                                                            images.name)

    def gather(self, parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """Put the ranks' per-image arrays of a sharded set back in the set's order."""
        if self.world == 1:
            return parts
        everyone = [None] * self.world
        dist.all_gather_object(everyone, parts)
        out = []
        for k in range(len(parts)):
            n = sum(len(p[k]) for p in everyone)
            full = np.empty(n, dtype=everyone[0][k].dtype)
            for r, p in enumerate(everyone):
                full[r::self.world] = p[k]
            out.append(full)
        return tuple(out)

    def sum(self, values: list[float]) -> list[float]:
        """The sums over the ranks of a few numbers."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


SINGLE = Ranks()


def start(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the other ranks (NCCL on CUDA, gloo on the CPU) and pick this rank's device: GPU LOCAL_RANK on CUDA.
    Ranks other than 0 print nothing but errors (stderr), so the log reads as one run's."""
    if not launched():
        return SINGLE, device
    ranks = Ranks(launch_rank(), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        if ranks.local_rank >= torch.cuda.device_count():
            raise RankError(f"rank {ranks.rank} wants GPU {ranks.local_rank}, but this machine has "
                            f"{torch.cuda.device_count()}; launch at most that many processes per node")
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=COLLECTIVE_TIMEOUT)
    if not ranks.is_main:
        sys.stdout = open(os.devnull, "w")
    return ranks, device


@contextlib.contextmanager
def session(device: torch.device):
    """(ranks, device) of this process for the length of a command; the process group is closed at its end."""
    ranks, device = start(device)
    try:
        yield ranks, device
    finally:
        ranks.close()


def check_batches(ranks: Ranks, n_images: int, batch_size: int, what: str) -> None:
    """Refuse a launch whose ranks cannot each get a share of at least one global batch."""
    if ranks.world > 1 and n_images < ranks.world * batch_size:
        raise UserError(f"{ranks.world} ranks at --batch-size {batch_size} need at least {ranks.world * batch_size} "
                        f"{what} images per epoch, and there are {n_images}; launch fewer ranks or lower "
                        f"--batch-size")
