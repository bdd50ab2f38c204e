"""Several searches, one cell: how the DARTS paper chose its cell (Liu et al., 2018, section 3.2), and the command
behind `darts-nexp search`.

With `--search-seeds 0 1 2 3` the search runs once per seed, each a search run of its own in RUN_DIR/seed-<seed>
that resumes on its own, and exports its cell (read by --derive) to RUN_DIR/candidates/seed-<seed>.yaml. One cell
is then chosen by --select-by:

- retrain (the default): each cell's final network is trained from scratch for --select-epochs on the training
  split of --select-train's recipe, in RUN_DIR/select-seed-<seed>, and scored on its validation split. That was the
  paper's way; the test split is never scored;
- supernet: the supernet's validation AUC at the end of its search. It costs nothing, but at CPU scale it chose the
  worst of the searched cells trained in both protocol runs (docs/benchmarks.md, Choosing the cell).

RUN_DIR gets candidates.csv (one row per search), genotype.yaml (the chosen cell) and its drawings, and the chosen
cell is exported to --genotype-out. With one seed the search is the plain one of engine/search.py. Several seeds
under torchrun are refused for now: a torchrun search per seed does the same.

The protocol (engine/protocol.py) keeps its runs the same way: a finished run is kept, an unfinished one resumed,
and one made with other settings refused.
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import datetime
import io
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from .. import config, distributed
from ..errors import UserError
from ..final import param_count
from ..io import write_atomic
from ..render import render_genotype
from ..runs import (BEST, COMMANDS, CONFIG, GENOTYPE, TRAIN_HISTORY, Run, load_checkpoint, run_info, run_kind,
                    read_config, run_history)
from ..space import Genotype
from . import search as search_engine
from . import train as train_engine
from .inputs import resolve_input
from .search import DERIVED, SearchConfig, SearchResult
from .train import TrainConfig

CANDIDATES = "candidates.csv"
CANDIDATES_DIR = "candidates"
FIELDS = ("seed", "derive", "genotype", "supernet_val_auc", "retrain_val_auc", "params", "search_core_seconds",
          "retrain_core_seconds", "chosen")

# Settings that do not change what a run computes, or that are set per run and checked otherwise.
IGNORED = {"out", "genotype", "genotype_out", "progress", "device", "threads", "data.cache_dir", "latency_table",
           "derive_tune_steps", "derive_images"}  # these two: the protocol derives after the search, and checks them


def changes(saved: dict, wanted) -> list[str]:
    """The settings in which a run's saved config.yaml differs from `wanted`. A setting that an older darts-nexp
    did not save counts as its default."""
    found = []
    defaults = config.differences(config.to_dict(type(wanted)()), {})
    for name, (value, old) in config.differences(config.to_dict(wanted), saved).items():
        if name in IGNORED or (name == "stem" and value == "auto") or (name == "data.image_size" and value is None):
            continue  # "auto" and None are resolved by the run itself and saved resolved
        if old is None and name in defaults and defaults[name][0] == value:
            continue
        found.append(f"{name} {old!r} (now {value!r})")
    return found


def run_state(path: Path, kind: str, wanted, new_out: str = "pass a new --out") -> str:
    """"new", "finished" or "unfinished", after refusing a run of another kind or of other settings."""
    found = run_kind(path) if path.is_dir() else None
    if found is None:
        return "new"  # absent or empty; a folder of foreign files is refused by Run.open with its own message
    if found != kind:
        raise UserError(f"{path} holds a {found} run where a {kind} run belongs; move it away or {new_out}")
    if (path / CONFIG).is_file():
        changed = changes(read_config(path), wanted)
        if changed:
            changed = "; ".join(f"{kind}.{c}" for c in changed)
            raise UserError(f"{path} was run with other settings: {changed}. Runs compared with each other are made "
                            f"the same way: restore those settings, or {new_out}")
    return "finished" if run_info(path).get("status") == "finished" else "unfinished"


def same_cell(a: Genotype, b: Genotype) -> bool:
    return (a.normal, a.normal_concat, a.reduce, a.reduce_concat) == (b.normal, b.normal_concat, b.reduce,
                                                                      b.reduce_concat)


def ensure_trained(tcfg: TrainConfig, genotype: Genotype, what: str, say: Callable[[str], None],
                   new_out: str = "pass a new --out") -> Path:
    """The training run tcfg.out of `genotype`: kept when finished, resumed when not, started when absent."""
    run_dir = Path(tcfg.out)
    state = run_state(run_dir, "train", tcfg, new_out)
    if state != "new" and (run_dir / GENOTYPE).is_file() and not same_cell(Genotype.load(run_dir / GENOTYPE),
                                                                           genotype):
        raise UserError(f"{run_dir} trained another cell than {tcfg.genotype} holds now; move it away or {new_out}")
    if state == "finished":
        say(f"{what}: finished earlier in {run_dir}, kept")
    else:
        say(what + (f": resuming the unfinished run in {run_dir}" if state == "unfinished" else ""))
        train_engine.run(tcfg, resume=state == "unfinished")
    return run_dir


def core_seconds(path: Path) -> Optional[float]:
    """The compute a run used, in core-seconds: the CPU time its processes spent on it (run.json's cpu_seconds).
    Runs made before darts-nexp recorded it give their wall time from creation to finish times their threads,
    which a pause or a busy machine inflates."""
    info = run_info(path)
    if "cpu_seconds" in info and info.get("status") == "finished":
        return info["cpu_seconds"]
    if "created" not in info or "finished" not in info:
        return None
    wall = (datetime.datetime.fromisoformat(info["finished"]) - datetime.datetime.fromisoformat(info["created"]))
    threads = read_config(path).get("threads") or len(os.sched_getaffinity(0))
    return round(wall.total_seconds() * threads, 1)


def retrain_val_auc(run_dir: Path) -> Optional[float]:
    """The best validation AUC of a finished training run, None when undefined: the best epoch of its history.yaml,
    which is best.pt's epoch (runs of darts-nexp 0.2 and before have only best.pt)."""
    if (Path(run_dir) / TRAIN_HISTORY).is_file():
        aucs = [e["val_auc"] for e in run_history(run_dir, "train")
                if isinstance(e.get("val_auc"), (int, float)) and math.isfinite(e["val_auc"])]
        return max(aucs) if aucs else None
    value = load_checkpoint(run_dir / BEST, ("best",))["val_auc"]
    return value if math.isfinite(value) else None


def recipe(cfg: SearchConfig) -> TrainConfig:
    """The short training of --select-by retrain: --select-train's train: section (and its shared keys), else the
    darts-nexp train defaults, on the search's images; never scored on the test split."""
    values = {}
    if cfg.select_train:
        path = config.config_path(cfg.select_train)
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        values = {k: v for k, v in config.read_yaml(path, "train", {"train": fields}).items() if k in fields}
    tcfg = config.from_dict(TrainConfig, values, str(cfg.select_train or "train defaults"))
    size = tcfg.data.image_size
    tcfg.data = copy.deepcopy(cfg.data)
    if size is not None:
        tcfg.data.image_size = list(size)
    tcfg.seed, tcfg.epochs, tcfg.test = cfg.seed, cfg.select_epochs, False
    tcfg.device, tcfg.threads, tcfg.progress = cfg.device, cfg.threads, cfg.progress
    config.validate(tcfg)
    return tcfg


@dataclass
class Candidate:
    seed: int
    derive: str
    genotype: Path
    supernet_val_auc: Optional[float] = None
    retrain_val_auc: Optional[float] = None
    params: Optional[int] = None
    search_core_seconds: Optional[float] = None
    retrain_core_seconds: Optional[float] = None
    chosen: bool = False


def choose(candidates: list, by: str):
    """The candidate with the best signal (`supernet` or `retrain` validation AUC); a tie goes to the first. None
    when no candidate has the signal."""
    key = f"{by}_val_auc"
    scored = [c for c in candidates if getattr(c, key) is not None]
    return max(scored, key=lambda c: getattr(c, key)) if scored else None


def write_candidates(path: Path, candidates: list[Candidate]) -> Path:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for c in candidates:
        writer.writerow({k: "" if v is None else v for k, v in dataclasses.asdict(c).items()})
    return write_atomic(path, text.getvalue())


def final_params(tcfg: TrainConfig, genotype: Genotype) -> int:
    with torch.device("meta"):  # shapes only: counting parameters needs no memory and no initialisation
        return param_count(train_engine.build_model(tcfg, genotype))


def run(cfg: SearchConfig, resume: bool = False) -> SearchResult:
    """`darts-nexp search`: one search, or one per --search-seeds and a choice among their cells."""
    if len(cfg.search_seeds) <= 1:
        if cfg.search_seeds:
            cfg.seed = cfg.search_seeds[0]
        return search_engine.run(cfg, resume)
    cfg.validate()
    search_engine.check_writable(cfg.genotype_path())
    if distributed.launched():
        raise UserError("--search-seeds is not supported under torchrun yet: launch one torchrun search per seed "
                        "(--seed S --out DIR/seed-S), or run the several searches in one process")
    by = cfg.select_by or "retrain"
    tcfg = recipe(cfg) if by == "retrain" else None
    start = time.time()
    run = Run.open(cfg.out, "search", resume)
    cfg.out = str(run.path)
    run.hold_searches(cfg.search_seeds)
    run.save_config(cfg)
    out = Path(cfg.out)
    candidates = []
    for i, seed in enumerate(cfg.search_seeds):
        child = copy.deepcopy(cfg)
        child.seed, child.search_seeds, child.select_by, child.select_train = seed, [], None, None
        child.out = str(out / f"seed-{seed}")
        child.genotype_out = str(out / CANDIDATES_DIR / f"seed-{seed}.yaml")
        state = run_state(Path(child.out), "search", child, f"restore the settings of {out}")
        print(f"\n[search {i + 1}/{len(cfg.search_seeds)}] seed {seed}"
              + {"new": "", "unfinished": f": resuming {child.out}", "finished": f": finished earlier in "
                 f"{child.out}, kept"}[state], flush=True)
        if state != "finished":
            search_engine.run(child, resume=state == "unfinished")
        own = Path(child.out) / (DERIVED if cfg.derive == "perturbation" else GENOTYPE)
        if not Path(child.genotype_out).is_file():  # deleted: the run keeps its own copy
            Genotype.load(own).save(child.genotype_out)
        supernet = run_history(child.out, "search")[-1].get("val_auc")
        candidates.append(Candidate(seed, cfg.derive, Path(child.genotype_out),
                                    supernet if supernet is not None and math.isfinite(supernet) else None,
                                    search_core_seconds=core_seconds(Path(child.out))))
    if tcfg is not None:
        for i, seed in enumerate(cfg.search_seeds):
            t = copy.deepcopy(tcfg)
            t.genotype, t.out = str(out / CANDIDATES_DIR / f"seed-{seed}.yaml"), str(out / f"select-seed-{seed}")
            done = ensure_trained(t, Genotype.load(t.genotype), f"[selection {i + 1}/{len(cfg.search_seeds)}] "
                                  f"training the cell of seed {seed} for {t.epochs} epoch(s)",
                                  lambda text: print(f"\n{text}", flush=True), f"restore the settings of {out}")
            candidates[i].retrain_val_auc = retrain_val_auc(done)
            candidates[i].retrain_core_seconds = core_seconds(done)
    sizing = copy.deepcopy(tcfg or recipe(cfg))
    resolve_input(sizing)
    for c in candidates:
        c.params = final_params(sizing, Genotype.load(c.genotype))
    best = choose(candidates, by)
    if best is None:
        write_candidates(run.path / CANDIDATES, candidates)
        raise UserError(f"no candidate has a {by} validation AUC (each search's validation split needs both "
                        f"classes); see {run.path / CANDIDATES}")
    best.chosen = True
    write_candidates(run.path / CANDIDATES, candidates)
    genotype = Genotype.load(best.genotype)
    genotype.meta.update(selected_by=by, selected_from=[c.seed for c in candidates])
    genotype.save(run.file(GENOTYPE))
    export = search_engine.export_genotype(genotype, cfg.genotype_path(), run.file(GENOTYPE), run.path)
    drawings, _ = render_genotype(genotype, run.path)
    run.finish()
    print(f"\n{len(candidates)} searches, the cell of seed {best.seed} chosen by its {by} validation AUC "
          f"({getattr(best, f'{by}_val_auc'):.4f}):")
    for c in candidates:
        print(f"  seed {c.seed}: supernet val AUC {_auc(c.supernet_val_auc)}, retrain val AUC "
              f"{_auc(c.retrain_val_auc)}, {c.params:,} params{'  <- chosen' if c.chosen else ''}")
    print(f"  genotype:      {export}  (copy: {run.file(GENOTYPE)})")
    print(f"  candidates:    {run.path / CANDIDATES}")
    print(f"  cell drawings: {', '.join(str(p) for p in drawings)}")
    print(f"  train it:      {COMMANDS['train']} --genotype {export}")
    return SearchResult(run.path, genotype, export, {}, [], time.time() - start)


def _auc(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.4f}"
