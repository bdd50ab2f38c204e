"""`darts-nexp derive`: read the cell out of a finished search again, by perturbation (DARTS-PT), without
searching again.

It rebuilds the supernet from the search's checkpoint and its images from the search's own split, then writes
genotype-perturbation.yaml beside the search's genotype.yaml (the argmax cell), and into perturbation/ the cell
drawings and decisions.yaml: every loss the derivation measured. supernet/derive.py says how it chooses.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Optional

import tyro

from ..config import DEFAULT_IN_HELP, from_dict
from ..errors import UserError
from ..runs import (COMMANDS, CONFIG, GENOTYPE, SEARCH_CHECKPOINT, SPLITS, a_run, run_info, run_kind,
                    saved_config)
from ..runtime import start_runtime
from ..space import Genotype
from .search import DECISIONS, PERTURBATION_DIR, Derivation, SearchConfig, derive_run


@dataclass
class DeriveConfig(Derivation):
    """Settings of `darts-nexp derive` (docs/search.md)."""
    run_dir: Annotated[tyro.conf.Positional[Optional[str]], tyro.conf.arg(metavar="RUN_DIR")] = None
    """a finished search run"""
    # The only way this command reads a cell: the argmax one is the search's genotype.yaml already.
    derive: Annotated[Literal["perturbation"], tyro.conf.Suppress] = "perturbation"
    seed: Annotated[Optional[int], DEFAULT_IN_HELP] = None
    """seed of the edge order, the image subset and the weight steps (default: the search's --seed)"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto (CUDA when present), cpu or cuda"""
    threads: Annotated[Optional[int], DEFAULT_IN_HELP] = None
    """CPU threads of torch (default: one per CPU this process may use)"""
    progress: bool = True
    """show a progress bar"""

    def validate(self) -> None:
        super().validate()
        if self.run_dir is None:
            raise UserError(f"name the search run to derive from: {COMMANDS['derive']} RUN_DIR")


def run(cfg: DeriveConfig) -> Genotype:
    cfg.validate()
    run_dir = Path(cfg.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a folder; pass the run directory of a finished darts-nexp search")
    kind = run_kind(run_dir)
    if kind != "search":
        raise UserError(f"{run_dir} holds {a_run(kind) if kind else 'no run'}; {COMMANDS['derive']} reads the "
                        f"supernet of a finished search")
    seeds = run_info(run_dir).get("searches")
    if seeds:
        raise UserError(f"{run_dir} holds {len(seeds)} searches, one per seed: derive from one of them, such as "
                        f"{run_dir / f'seed-{seeds[0]}'}")
    # Before saved_config, whose refusal of a lost file speaks of --resume.
    lost = [name for name in (SEARCH_CHECKPOINT, SPLITS) if not (run_dir / name).is_file()]
    if run_info(run_dir).get("status") == "finished" and lost:
        raise UserError(f"{run_dir} has lost {' and '.join(lost)} (deleted or moved?), which the derivation reads; "
                        f"restore it, or search again with {COMMANDS['search']}")
    search = from_dict(SearchConfig, saved_config(run_dir, "search"), str(run_dir / CONFIG))
    if run_info(run_dir).get("status") != "finished" or not (run_dir / SEARCH_CHECKPOINT).is_file():
        raise UserError(f"{run_dir} is an unfinished search: finish it first ({COMMANDS['search']} --resume "
                        f"{run_dir}), then derive")
    search.derive, search.derive_tune_steps, search.derive_images = (cfg.derive, cfg.derive_tune_steps,
                                                                    cfg.derive_images)
    device = start_runtime(cfg.device, cfg.threads)
    genotype, path = derive_run(run_dir, search, device, cfg.progress, cfg.seed)
    print(f"\nperturbation genotype: {path} (the argmax one: {run_dir / GENOTYPE}); derived in "
          f"{genotype.meta['derive_seconds']:.0f} s")
    print(f"  cell drawings: {run_dir / PERTURBATION_DIR}; every loss measured: "
          f"{run_dir / PERTURBATION_DIR / DECISIONS}")
    print(f"  train it: {COMMANDS['train']} --genotype {path}")
    return genotype
