"""Random cells written to genotype files (`darts-nexp sample`), optionally only those of a reference's size.

`--like GENOTYPE` keeps only cells whose final network (the one `darts-nexp train` would build) has the reference's
parameter count within `--tolerance`, so that a comparison with a searched cell is not a comparison of sizes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import torch

from .. import config
from ..errors import UserError
from ..io import WriteFailed
from ..final import FinalNetwork, check_buildable, param_count
from ..space import Genotype
from ..space.sample import sample_genotype, sample_rng

MAX_ATTEMPTS = 200  # draws per file under --like before giving up
NUM_CLASSES, IN_CHANS = 2, 1  # the Nexperia task: sizes are compared on the network that would be trained


@dataclass
class SampleConfig:
    n: int = 10
    """Number of genotype files to write."""
    start: int = 0
    """Index of the first file: --start 10 --n 5 writes random-010 ... random-014, the files a run with --n 15 would
    end with."""
    seed: int = 0
    """Seed; file i is drawn from (seed, i) alone, so asking for more files keeps the first ones."""
    out: str = "genotypes/random"
    """Folder for random-000.yaml, random-001.yaml, ..."""
    nodes: int = 4
    """Intermediate nodes per cell (DARTS uses 4)."""
    like: Optional[str] = None
    """Reference genotype file: keep only cells whose final network has its parameter count within --tolerance."""
    tolerance: float = 0.1
    """Relative band around the reference's parameter count for --like (0.1 = +-10%)."""
    init_channels: int = 48
    """Channels per node of the first cells of the final network whose parameters are counted."""
    layers: int = 14
    """Cells in the final network whose parameters are counted."""
    stem: Literal["imagenet", "cifar"] = "imagenet"
    """Stem of the final network whose parameters are counted."""

    def validate(self) -> None:
        if self.n < 1:
            raise UserError(f"--n {self.n}: nothing to write; pass --n 1 or more")
        if self.start < 0:
            raise UserError(f"--start {self.start}: the first index is 0 or more")
        if self.nodes < 1:
            raise UserError(f"--nodes {self.nodes}: a cell needs at least 1 intermediate node; DARTS uses --nodes 4")
        if not 0 < self.tolerance < 1:
            raise UserError(f"--tolerance {self.tolerance}: must be a fraction between 0 and 1 (exclusive), "
                            f"e.g. --tolerance 0.1 for +-10%")
        # FactorizedReduce and the imagenet stem halve the channel count.
        if self.init_channels < 2 or self.init_channels % 2:
            raise UserError(f"--init-channels {self.init_channels}: must be an even number of at least 2, e.g. 48")
        if self.layers < 1:
            raise UserError(f"--layers {self.layers}: the final network needs at least 1 cell, e.g. --layers 14")


def final_param_count(genotype: Genotype, init_channels: int = 48, layers: int = 14, stem: str = "imagenet") -> int:
    """param_count of the final network, built on the meta device: shapes only, no memory, no initialisation, so
    that rejection sampling under --like can afford a build per draw (about 0.07 s at C=48, 14 layers)."""
    with torch.device("meta"):
        model = FinalNetwork(genotype, num_classes=NUM_CLASSES, in_chans=IN_CHANS, init_channels=init_channels,
                             layers=layers, stem=stem, auxiliary=False)
    return param_count(model)


def run(cfg: SampleConfig) -> list[Path]:
    """Write cfg.n genotype files to cfg.out and return their paths."""
    config.validate(cfg)
    reference = band = None
    if cfg.like is not None:
        reference = Genotype.load(cfg.like)
        check_buildable(reference, cfg.like)
        target = final_param_count(reference, cfg.init_channels, cfg.layers, cfg.stem)
        band = (target * (1 - cfg.tolerance), target * (1 + cfg.tolerance))
    out = Path(cfg.out)
    paths, sizes, draws = [], [], 0
    for i in range(cfg.start, cfg.start + cfg.n):
        rng = sample_rng(cfg.seed, i)
        meta = {"sampler": "uniform", "seed": cfg.seed, "index": i}
        if reference is not None:
            # Without these the file could not be drawn again: --like changes which draw is kept.
            meta.update(like=str(cfg.like), tolerance=cfg.tolerance, init_channels=cfg.init_channels,
                        layers=cfg.layers, stem=cfg.stem)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            genotype = sample_genotype(rng, cfg.nodes, name=f"random-{cfg.seed}-{i}", meta=meta)
            params = final_param_count(genotype, cfg.init_channels, cfg.layers, cfg.stem)
            if band is None or band[0] <= params <= band[1]:
                break
        else:
            raise UserError(f"--like {cfg.like}: no cell within {cfg.tolerance * 100:g}% of its {target:,} "
                            f"parameters in {MAX_ATTEMPTS} draws for file {i}; widen --tolerance, or change --nodes, "
                            f"--init-channels, --layers or --stem so that random cells can reach that size")
        draws += attempt
        path = out / f"random-{i:03d}.yaml"
        try:
            genotype.save(path)
        except WriteFailed as e:
            raise e.or_else("pass another folder to --out") from None
        print(f"{path}  normal skip_connect: {genotype.normal_skips}  params: {params:,}")
        paths.append(path)
        sizes.append(params)
    settings = f"C={cfg.init_channels}, {cfg.layers} layers, {cfg.stem} stem, {NUM_CLASSES} classes"
    summary = f"wrote {len(paths)} random genotypes to {out} (seed {cfg.seed}); " \
              f"params {min(sizes):,}..{max(sizes):,} at {settings}"
    if reference is not None:
        summary += f"; within {cfg.tolerance * 100:g}% of {cfg.like} ({target:,}), {draws} draws in all"
    print(summary)
    return paths
