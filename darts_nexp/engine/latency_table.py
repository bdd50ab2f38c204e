"""The latency table of a final network on this machine (deploy/lut.py), measured once and cached."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Optional

import tyro

from ..config import DEFAULT_IN_HELP, check_at_least
from ..deploy import lut
from ..errors import UserError
from ..io import WriteFailed
from ..runs import COMMANDS
from ..runtime import start_runtime


@dataclass
class LatencyTableConfig:
    """Settings of `darts-nexp latency-table` (docs/deploy.md): the final network whose cells are timed."""
    image_size: Annotated[Optional[list[int]], tyro.conf.arg(aliases=("--data.image-size",), metavar="H W",
                                                             help_behavior_hint="")] = None
    """H W the network sees: the search's and the training's input size (128 132 for Nexperia's images)"""
    stem: Literal["auto", "imagenet", "cifar"] = "auto"
    """the final network's stem (auto: imagenet from 128 px up)"""
    layers: int = 14
    """cells of the final network"""
    init_channels: int = 48
    """C of the final network"""
    stem_multiplier: int = 3
    """cifar stem width, in units of C"""
    nodes: int = 4
    """intermediate nodes per cell, as in the search"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """the target device (auto: CUDA when present)"""
    threads: Annotated[Optional[int], DEFAULT_IN_HELP] = None
    """CPU threads of torch (default: one per CPU this process may use); the line's own count is the one to time"""
    repeats: int = 20
    """timings per op and shape, after 3 untimed ones; the table holds their median"""
    out: Annotated[Optional[str], DEFAULT_IN_HELP] = None
    """the table file (default: a file under ~/.cache/darts-nexp/latency named after the machine and the network,
    reused when it is there)"""

    def validate(self) -> None:
        check_at_least(self, layers=1, nodes=1, init_channels=2, stem_multiplier=1, repeats=3)
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 8):
            raise UserError(f"--image-size takes two numbers H W, each >= 8 (got {self.image_size})")


def run(cfg: LatencyTableConfig) -> Path:
    if cfg.image_size is None:
        raise UserError("pass the input size of the search and the training: --image-size H W (128 132 for "
                        "Nexperia's images, 64 64 for the demo)")
    device = start_runtime(cfg.device, cfg.threads)
    plan = lut.network_plan(cfg.image_size, cfg.stem, cfg.layers, cfg.init_channels, cfg.stem_multiplier, cfg.nodes)
    path = Path(cfg.out) if cfg.out else lut.cache_path(plan, device)
    if cfg.out is None and path.is_file():
        print(f"latency table (cached): {path}")
        return path
    if path.exists():
        raise UserError(f"{path} already exists; pass another --out, or move it away")
    table = lut.measure(plan, device, cfg.repeats)
    try:
        lut.save(table, path)
    except WriteFailed as e:
        raise e.or_else("pass another --out") from None
    cheapest = {cell: sum(min(r[1:]) for r in table[cell]) for cell in ("normal", "reduce")}
    dearest = {cell: sum(max(r[1:]) for r in table[cell]) for cell in ("normal", "reduce")}
    print(f"latency table of the final network ({plan['layers']} layers, C={plan['init_channels']}, {plan['stem']} "
          f"stem, {plan['image_size'][0]}x{plan['image_size'][1]}) on {device.type}, batch 1: {path}")
    print(f"  every edge's cheapest op: {sum(cheapest.values()):.3f} ms summed over all edges and cells; "
          f"dearest: {sum(dearest.values()):.3f} ms (a genotype keeps 2 edges a node)")
    print(f"  search with it: {COMMANDS['search']} --latency-table {path} --latency-weight LAMBDA "
          f"--data.image-size {plan['image_size'][0]} {plan['image_size'][1]}")
    return path
