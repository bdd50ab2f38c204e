"""Does the search beat random cells? Searched, random and published cells trained the same way, on the same images.

Runs one search per search seed, draws random cells from the same space (by default only cells whose final network
has DARTS_V2's parameter count, within the sampler's tolerance), adds the published cells (DARTS_V1, DARTS_V2), and
trains every cell with one recipe and the same training seeds. Writes rows.csv and rows.json (one row per cell and
training seed) and summary.md (searched against random against published, with a verdict) into --out.

Every search and every training is a run directory of its own under --out. Run the same command again after a
kill: finished runs are kept (never trained twice), unfinished ones are resumed. docs/search.md explains the outputs.
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Optional

import scipy.stats
import torch
import tyro
import yaml

from .. import config
from ..data import DataConfig
from ..errors import UserError
from ..final import param_count
from ..io import write_atomic
from ..runs import CONFIG, GENOTYPE, METRICS, claim, read_config, release, run_history
from ..deploy import lut
from ..deploy.latency import machine, median_seconds
from ..deploy.scorer import Scorer
from ..plots import plot_pareto
from ..runtime import start_runtime
from ..space import Genotype, auto_stem, genotype_file
from . import sample as sampler
from . import search as search_engine
from . import train as train_engine
from .search import DERIVED, SearchConfig, derive_run
from .select import CANDIDATES, core_seconds, ensure_trained, retrain_val_auc, run_state
from .train import TrainConfig

DARTS_V2 = "darts_v2"  # a published genotype, by name (space.Genotype.load)
KINDS = ("searched", "searched-perturbation", "latency-aware", "random", "random-search", "published")
ROW_FIELDS = ("kind", "cell", "genotype", "search_seed", "train_seed", "test_auc", "val_auc", "params",
              "latency_ms", "predicted_latency_ms", "normal_skips", "search_val_auc", "select_val_auc",
              "core_seconds", "run_dir")
# The candidates, which get the short training; random-search cells are those drawn after the n_random cells to
# give random search the searched arms' budget, and only its choice among them is trained further.
SELECTED = ("searched", "searched-perturbation", "random", "random-search")
CANDIDATE_FIELDS = ("cell", "kind", "search_seed", "search_val_auc", "select_val_auc", "search_core_seconds",
                    "derive_core_seconds", "select_core_seconds")


@dataclass
class SearchSection(SearchConfig):
    """`darts-nexp search` settings shared by every search of the protocol. seed, out, genotype_out and the latency
    settings are set per search by the protocol, and data comes from protocol.data; only data.image_size may be
    given here (in the config file)."""
    seed: Annotated[int, tyro.conf.Suppress] = 0
    search_seeds: Annotated[list[int], tyro.conf.Suppress] = field(default_factory=list)
    select_by: Annotated[Optional[str], tyro.conf.Suppress] = None
    select_epochs: Annotated[int, tyro.conf.Suppress] = 1
    select_train: Annotated[Optional[str], tyro.conf.Suppress] = None
    derive: Annotated[str, tyro.conf.Suppress] = "argmax"
    out: Annotated[Optional[str], tyro.conf.Suppress] = None
    genotype_out: Annotated[Optional[str], tyro.conf.Suppress] = None
    latency_weight: Annotated[float, tyro.conf.Suppress] = 0.0
    latency_table: Annotated[Optional[str], tyro.conf.Suppress] = None
    # Suppressed on the command line: three DataConfigs would each claim --dataset and --data-dir.
    data: Annotated[DataConfig, tyro.conf.Suppress] = field(default_factory=DataConfig)


@dataclass
class TrainSection(TrainConfig):
    """`darts-nexp train` settings: the one recipe every cell is trained with. genotype, seed and out are set per run by
    the protocol, and data comes from protocol.data; only data.image_size may be given here (in the config file)."""
    genotype: Annotated[Optional[str], tyro.conf.Suppress] = None
    seed: Annotated[int, tyro.conf.Suppress] = 0
    out: Annotated[Optional[str], tyro.conf.Suppress] = None
    test: Annotated[bool, tyro.conf.Suppress] = True
    data: Annotated[DataConfig, tyro.conf.Suppress] = field(default_factory=DataConfig)


# The fields above that the protocol sets for each run: a value given for one is refused, not silently replaced.
PER_RUN = {"search": ("seed", "search_seeds", "select_by", "select_epochs", "select_train", "derive", "out",
                      "genotype_out", "latency_weight", "latency_table"),
           "train": ("genotype", "seed", "out", "test")}


@dataclass
class ProtocolConfig:
    """Settings of `darts-nexp protocol` (docs/search.md)."""
    search_seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """one search per seed; each exports the cell searched-<seed>"""
    n_random: int = 8
    """random cells drawn from the search space (random-000 ...)"""
    random_seed: int = 0
    """seed of the random cells: the same seed draws the same cells again"""
    train_seeds: list[int] = field(default_factory=lambda: [0])
    """every cell is trained once per seed (the seed of the split, the weights and the data order)"""
    published: list[str] = field(default_factory=lambda: ["darts_v1", DARTS_V2])
    """published genotypes (files, or the names of those shipped with darts-nexp), trained alongside as references"""
    latency_weights: list[float] = field(default_factory=lambda: [0.0])
    """each search seed runs once per weight: 0 is the plain search; above 0 a latency-aware search (cells
    searched-<seed>-latency-<weight>), with the latency table of the final network at the train settings, measured
    on this machine and cached (darts-nexp latency-table)"""
    derive: list[Literal["argmax", "perturbation"]] = field(default_factory=lambda: ["argmax", "perturbation"])
    """how the cell of each plain search is read, each a candidate: argmax (searched-<seed>) and perturbation
    (searched-<seed>-pt: DARTS-PT, with search.derive_tune_steps and search.derive_images)"""
    select_epochs: int = 1
    """epochs of the short training every candidate (searched and random cells) gets, scored on its validation
    split (select-<cell>/, the test split untouched): the signal of --select-by retrain and of random search"""
    random_search: Literal["equal", "candidates"] = "equal"
    """random search's pool, each cell given the short training and the best by validation chosen: "candidates" the
    n_random cells; "equal" also further random cells (random-008, ...) until its short trainings have used the
    compute of the costliest searched arm before its final training (searches, derivations, short trainings), so that
    search and random search are compared at equal budget. Only the n_random cells and random search's choice get
    final trainings"""
    train_unchosen: bool = True
    """also train the searched candidates no rule chose, last: they only add to the rank correlations of the summary
    (false: leave them out, and their final trainings with them)"""
    like: bool = True
    """draw only random cells whose final network, at the train settings, has DARTS_V2's parameter count (+-10%)"""
    out: str = "runs/search-quality"
    """folder of every run, the genotypes, rows.csv, rows.json and summary.md"""
    search: SearchSection = field(default_factory=SearchSection)
    train: TrainSection = field(default_factory=TrainSection)
    data: DataConfig = field(default_factory=DataConfig)
    """the images, shared: copied into the search and the train config so that every run sees the same images
    (search.data.image_size and train.data.image_size, when given, keep their own input size)"""

    def validate(self) -> None:
        if self.n_random < 0:
            raise UserError(f"--n-random {self.n_random}: must be 0 or more")
        if not self.search_seeds and self.n_random == 0:
            raise UserError("no search seeds and --n-random 0: there is nothing to compare; pass --search-seeds "
                            "and/or --n-random 1 or more")
        if not self.train_seeds:
            raise UserError("--train-seeds is empty: every cell needs at least one training, e.g. --train-seeds 0")
        if self.search_seeds and (not self.derive or len(set(self.derive)) != len(self.derive)):
            raise UserError(f"--derive {' '.join(self.derive) or '(empty)'}: name argmax, perturbation or both, "
                            f"each once")
        if self.select_epochs < 1:
            raise UserError(f"--select-epochs must be 1 or more (got {self.select_epochs})")
        weights = self.latency_weights
        if not all(math.isfinite(w) and w >= 0 for w in weights) or len(set(weights)) != len(weights):
            raise UserError(f"--latency-weights {weights}: each must be a finite number >= 0, given once (0: the "
                            f"plain search)")
        if any(weights):
            search, train = shared_data(self.search, self.data), shared_data(self.train, self.data)
            if train.data.image_size is None or search.data.image_size != train.data.image_size:
                raise UserError(f"--latency-weights above 0 time the ops of the final network, so the search must see "
                                f"the training's input size, and that size must be given: pass --data.image-size H W "
                                f"(search {search.data.image_size}, train {train.data.image_size})")
            if search.device != train.device:
                raise UserError(f"--latency-weights above 0 need the search and the training on one device (the "
                                f"latency table's): search.device {search.device}, train.device {train.device}")
        for name in ("search_seeds", "train_seeds"):
            seeds = getattr(self, name)
            if len(set(seeds)) != len(seeds):
                raise UserError(f"{name} {seeds} repeats a seed; each seed is one run directory, give it once")
        for name, section in (("search", self.search), ("train", self.train)):
            default = type(section)()
            given = [key for key in PER_RUN[name] if getattr(section, key) != getattr(default, key)]
            given += [f"data.{f.name}" for f in dataclasses.fields(DataConfig)
                      if f.name != "image_size" and getattr(section.data, f.name) != getattr(default.data, f.name)]
            if given:
                raise UserError(f"protocol.{name} sets {', '.join(given)}, which the protocol sets itself: seeds "
                                f"come from search_seeds and train_seeds, folders from out, and the images from "
                                f"protocol.data (only {name}.data.image_size may differ); drop them")
        if self.like and self.n_random:
            train = shared_data(self.train, self.data)
            if train.stem == "auto" and train.data.image_size is None:
                raise UserError("--like true needs the train stem to size DARTS_V2's network, and train.stem auto "
                                "picks it from the input size, which is not set: pass --data.image-size H W (or "
                                "--train.stem cifar|imagenet), or --like false")


def shared_data(section, data: DataConfig):
    """A copy of the search or train section with the protocol's images; its own image_size wins when given."""
    section = copy.deepcopy(section)
    own_size = section.data.image_size
    section.data = copy.deepcopy(data)
    if own_size is not None:
        section.data.image_size = list(own_size)
    return section


def plain(section, cls):
    """The section as the plain SearchConfig or TrainConfig that `darts-nexp search` and `train` take."""
    return cls(**{f.name: copy.deepcopy(getattr(section, f.name)) for f in dataclasses.fields(cls)})


def sample_config(cfg: ProtocolConfig) -> sampler.SampleConfig:
    """The sampler's settings: its parameter counts are of the network that the train settings build."""
    train = shared_data(cfg.train, cfg.data)
    stem = train.stem
    if stem == "auto":
        # As `darts-nexp train` resolves it. Without an input size (only allowed with like false) the stem merely
        # labels the sizes the sampler prints.
        stem = auto_stem(train.data.image_size) if train.data.image_size is not None else "imagenet"
    return sampler.SampleConfig(n=cfg.n_random, seed=cfg.random_seed, out=str(Path(cfg.out) / "genotypes"),
                                nodes=cfg.search.nodes, like=str(genotype_file(DARTS_V2)) if cfg.like else None,
                                init_channels=train.init_channels, layers=train.layers, stem=stem)


@dataclass
class Cell:
    kind: str
    name: str
    path: Path
    genotype: Genotype
    search_seed: Optional[int] = None
    search_val_auc: Optional[float] = None
    select_val_auc: Optional[float] = None


class Progress:
    def __init__(self, total: int):
        self.done, self.total = 0, total

    def __call__(self, text: str) -> None:
        self.done += 1
        print(f"\n[{self.done}/{self.total}] {text}", flush=True)


def searched_name(seed: int, weight: float) -> str:
    return f"searched-{seed}" if weight == 0 else f"searched-{seed}-latency-{weight:g}"


def _search(cfg: ProtocolConfig, seed: int, weight: float, table: Optional[Path], progress: Progress
            ) -> list[Cell]:
    """The search of `seed` at latency weight `weight`, and its cells: argmax and (plain searches only)
    perturbation, as --derive asks."""
    out, name = Path(cfg.out), searched_name(seed, weight)
    run_dir, export = out / name.replace("searched", "search"), out / "genotypes" / f"{name}.yaml"
    scfg = plain(shared_data(cfg.search, cfg.data), SearchConfig)
    scfg.seed, scfg.out, scfg.genotype_out = seed, str(run_dir), str(export)
    scfg.latency_weight, scfg.latency_table = weight, str(table) if table else None
    state = run_state(run_dir, "search", scfg)
    if state == "finished":
        progress(f"search {name}: finished earlier in {run_dir}, kept")
        if not export.is_file():  # the export was deleted; the run keeps its own copy
            Genotype.load(run_dir / GENOTYPE).save(export)
    else:
        progress(f"search {name}" + (f": resuming the unfinished run in {run_dir}" if state == "unfinished"
                                          else ""))
        search_engine.run(scfg, resume=state == "unfinished")
    supernet = _finite_or_none(run_history(run_dir, "search")[-1].get("val_auc"))
    if weight:
        return [Cell("latency-aware", name, export, Genotype.load(export), seed, supernet)]
    cells = [Cell("searched", name, export, Genotype.load(export), seed, supernet)] if "argmax" in cfg.derive else []
    if "perturbation" in cfg.derive:
        derived = out / "genotypes" / f"{name}-pt.yaml"
        wanted = {"derive_seed": seed, "derive_images": scfg.derive_images,
                  "derive_tune_steps": scfg.derive_tune_steps}
        kept = Genotype.load(run_dir / DERIVED).meta if (run_dir / DERIVED).is_file() else {}
        if all(kept.get(k) == v for k, v in wanted.items()):
            progress(f"perturbation cell of {name}: derived earlier in {run_dir / DERIVED}, kept")
        else:
            progress(f"perturbation cell of {name}: {scfg.derive_images} images, {scfg.derive_tune_steps} tuning "
                     f"steps per decision")
            derive_run(run_dir, scfg, start_runtime(scfg.device, scfg.threads), scfg.progress)
        Genotype.load(run_dir / DERIVED).save(derived)
        cells.append(Cell("searched-perturbation", f"{name}-pt", derived, Genotype.load(derived), seed, supernet))
    return cells


def _train_config(cfg: ProtocolConfig, cell: Cell, seed: int, run_dir: Path) -> TrainConfig:
    tcfg = plain(shared_data(cfg.train, cfg.data), TrainConfig)
    tcfg.genotype, tcfg.seed, tcfg.out = str(cell.path), seed, str(run_dir)
    return tcfg


def _select(cfg: ProtocolConfig, cell: Cell, progress: Progress) -> None:
    """The candidate's short training (the first training seed, --select-epochs, no test) and its validation AUC."""
    tcfg = _train_config(cfg, cell, cfg.train_seeds[0], Path(cfg.out) / f"select-{cell.name}")
    tcfg.epochs, tcfg.test = cfg.select_epochs, False
    run_dir = ensure_trained(tcfg, cell.genotype, f"short training of {cell.name} ({cfg.select_epochs} epoch(s))",
                             progress)
    cell.select_val_auc = retrain_val_auc(run_dir)


def _random_search(cfg: ProtocolConfig, cells: list[Cell], progress: Progress) -> list[Cell]:
    """Random search at equal budget: random cells after the first n_random, each given the short training, until
    random search's short trainings have used what the costliest searched arm spent before its final training. The
    cells are drawn by index and the budget is read from finished runs, so a rerun keeps the very same cells."""
    spent = costs(cfg, cells)
    budget = max((sum(parts) for _, *parts in arm_costs(choices(cells, cfg.derive)[0], cells, spent)), default=0)
    used = sum(spent[c.name]["select_core_seconds"] or 0 for c in cells if c.kind == "random")
    scfg, extra = sample_config(cfg), []
    while used < budget:
        scfg.start, scfg.n = cfg.n_random + len(extra), 1
        progress.total += 1
        path, = sampler.run(scfg)
        cell = Cell("random-search", path.stem, path, Genotype.load(path))
        _select(cfg, cell, progress)
        # Each counts at least one core-second, so that the loop ends however cheap the runs.
        used += max(core_seconds(Path(cfg.out) / f"select-{cell.name}") or 0, 1)
        extra.append(cell)
    return extra


def _train(cfg: ProtocolConfig, cell: Cell, seed: int, progress: Progress) -> dict:
    tcfg = _train_config(cfg, cell, seed, Path(cfg.out) / f"train-{cell.name}-seed{seed}")
    return _row(cell, seed, ensure_trained(tcfg, cell.genotype, f"training {cell.name} (seed {seed})", progress))


def _row(cell: Cell, seed: int, run_dir: Path) -> dict:
    if not (run_dir / METRICS).is_file():
        raise UserError(f"{run_dir / METRICS} is missing, so the run has no test AUC (a test split without labels?); "
                        f"see docs/training.md")
    metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    trained = config.from_dict(TrainConfig, read_config(run_dir), str(run_dir / CONFIG))
    with torch.device("meta"):  # shapes only: counting parameters needs no memory and no initialisation
        params = param_count(train_engine.build_model(trained, cell.genotype))
    return {"kind": cell.kind, "cell": cell.name, "genotype": str(cell.path), "search_seed": cell.search_seed,
            "train_seed": seed, "test_auc": metrics.get("auc"), "val_auc": metrics.get("val_auc"), "params": params,
            "normal_skips": cell.genotype.normal_skips, "search_val_auc": cell.search_val_auc,
            "select_val_auc": cell.select_val_auc, "core_seconds": core_seconds(run_dir), "run_dir": str(run_dir)}


def run(cfg: ProtocolConfig) -> list[dict]:
    """Search, sample, train (keeping finished runs, resuming unfinished ones), then write the rows and summary."""
    config.validate(cfg)
    # Bad input is refused before any run starts.
    published = [Genotype.load(path) for path in cfg.published]
    names = [searched_name(s, w) for s in cfg.search_seeds for w in cfg.latency_weights]
    names += [f"random-{i:03d}" for i in range(cfg.n_random)]
    names += [Path(p).stem for p in cfg.published]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"two cells would share the name {', '.join(repeated)} (and its run directories); rename "
                        f"the published genotype file")
    out = Path(cfg.out)
    claim(out)  # for the whole protocol: a second one into --out would train the same runs over the first's
    # The settings first, so that a folder still at work says what it is (darts-nexp report reads it).
    write_atomic(out / "protocol.yaml", yaml.safe_dump({"protocol": config.to_dict(cfg)}, sort_keys=False))
    searches = len(cfg.search_seeds) * len(cfg.latency_weights)
    plain_searches = len(cfg.search_seeds) * (0.0 in cfg.latency_weights)
    candidates_count = plain_searches * len(cfg.derive) + cfg.n_random
    cells_count = searches + candidates_count - plain_searches + len(cfg.published)
    progress = Progress(searches + plain_searches * ("perturbation" in cfg.derive) + (cfg.n_random > 0)
                        + candidates_count + cells_count * len(cfg.train_seeds) + 1)
    table_path, table = latency_table(cfg) if any(cfg.latency_weights) else (None, None)

    cells = [cell for seed in cfg.search_seeds for weight in cfg.latency_weights
             for cell in _search(cfg, seed, weight, table_path, progress)]
    if cfg.n_random:
        scfg = sample_config(cfg)
        progress(f"sampling {cfg.n_random} random cells into {scfg.out}"
                 + (f" (sized like {DARTS_V2})" if cfg.like else ""))
        # Drawn from (random_seed, index) alone, so a rerun writes the very files the earlier runs trained.
        for path in sampler.run(scfg):
            cells.append(Cell("random", path.stem, path, Genotype.load(path)))
    cells += [Cell("published", Path(p).stem, genotype_file(p), g) for p, g in zip(cfg.published, published)]
    for cell in cells:
        if cell.kind in SELECTED:
            _select(cfg, cell, progress)
    if cfg.random_search == "equal" and cfg.n_random and plain_searches:
        cells += _random_search(cfg, cells, progress)

    # The cells the summary compares come first, seed by seed, so that a protocol stopped part-way has its paired
    # comparisons complete; the searched candidates no rule chose only add to the rank correlations.
    chosen, best_random = choices(cells, cfg.derive)
    picked = {c.name for c in chosen.values()} | ({best_random.name} if best_random else set())
    trained = [c for c in cells if c.kind != "random-search" or c.name in picked]
    progress.total += len(cfg.train_seeds) * sum(c.kind == "random-search" for c in trained)
    later = [c for c in trained if c.kind in ("searched", "searched-perturbation") and c.name not in picked]
    first = [c for c in trained if c not in later]
    if not cfg.train_unchosen:
        trained, later = first, []
    rows = [_train(cfg, cell, seed, progress) for group in (first, later) for seed in cfg.train_seeds
            for cell in group]
    device = start_runtime(cfg.train.device, cfg.train.threads)  # the trainings' device and threads
    latency = _latencies(out / "latency.json", trained, rows, device, progress)
    for row in rows:
        row["latency_ms"] = round(latency[row["cell"]], 4)
        cell = next(c for c in trained if c.name == row["cell"])
        row["predicted_latency_ms"] = round(lut.predict(table, cell.genotype), 4) if table else None
    plot_pareto(cell_points(rows), out / "pareto.png", f"test AUC against measured latency (batch 1, {device.type})")
    write_atomic(out / "rows.json", json.dumps(rows, indent=1) + "\n")
    write_atomic(out / "rows.csv", _csv(rows))
    spent = costs(cfg, cells)
    write_atomic(out / CANDIDATES, _csv([{"cell": c.name, "kind": c.kind, "search_seed": c.search_seed,
                                          "search_val_auc": c.search_val_auc, "select_val_auc": c.select_val_auc,
                                          **spent[c.name]} for c in cells if c.kind in SELECTED],
                                        CANDIDATE_FIELDS))
    summary = summarise(rows, len(cfg.train_seeds), device.type)
    summary += "\n" + "\n".join(choice_lines(cells, rows, spent, cfg))
    write_atomic(out / "summary.md", summary)
    print(f"\n{summary}\nrows: {out / 'rows.csv'}, {out / 'rows.json'}; summary: {out / 'summary.md'}; settings: "
          f"{out / 'protocol.yaml'}")
    release(out)
    return rows


def latency_table(cfg: ProtocolConfig) -> tuple[Path, dict]:
    """The latency table the latency-aware searches use, of the final network at the train settings on the
    trainings' device and threads: measured once on this machine, then taken from the cache. (path, table)"""
    train = shared_data(cfg.train, cfg.data)
    size = train.data.image_size  # given: validate() refuses latency weights without it
    plan = lut.network_plan(size, train.stem, train.layers, train.init_channels, train.stem_multiplier,
                            cfg.search.nodes)
    device = start_runtime(train.device, train.threads)
    path = lut.cache_path(plan, device)
    if not path.is_file():
        print(f"measuring the latency table of the final network on {device.type} into {path}", flush=True)
        lut.save(lut.measure(plan, device), path)
    return path, lut.load(path, device.type, plan["image_size"], plan["nodes"])


def _latencies(path: Path, cells: list[Cell], rows: list[dict], device: torch.device, progress: Progress
               ) -> dict[str, float]:
    """The cells' latencies: those in `path` when it holds these very cells measured on this machine (a rerun gives
    the same rows), else all of them measured again side by side and kept there."""
    wanted = {cell.name: {"normal": cell.genotype.to_dict()["normal"], "reduce": cell.genotype.to_dict()["reduce"]}
              for cell in cells}
    try:
        kept = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        kept = {}  # damaged: measured again
    here = machine(device)
    if kept.get("machine") == here and all(kept.get("cells", {}).get(n, {}).get("cell") == w
                                           for n, w in wanted.items()):
        progress(f"latency of {len(cells)} final networks: measured earlier, kept in {path}")
        return {name: kept["cells"][name]["ms"] for name in wanted}
    progress(f"measuring the latency of {len(cells)} final networks side by side on {device.type}")
    latency = cell_latencies(cells, rows, device)
    write_atomic(path, json.dumps({"machine": here, "cells": {name: {"cell": wanted[name], "ms": ms}
                                                              for name, ms in latency.items()}}, indent=1) + "\n")
    return latency


def cell_latencies(cells: list[Cell], rows: list[dict], device: torch.device, rounds: int = 5) -> dict[str, float]:
    """Batch-1 latency in ms of every cell's final network at its run's settings, measured side by side: each of
    `rounds` rounds times every network once (a median of 5 calls), and a cell's figure is the median of its rounds,
    so that a slow moment of a shared machine falls on every cell alike."""
    scorers, shapes = {}, {}
    for cell in cells:
        run_dir = Path(next(r["run_dir"] for r in rows if r["cell"] == cell.name))
        trained = config.from_dict(TrainConfig, read_config(run_dir), str(run_dir / CONFIG))
        scorers[cell.name] = Scorer(train_engine.build_model(trained, cell.genotype)).to(device)
        shapes[cell.name] = (1, trained.data.channels, *trained.data.image_size)
    times = {name: [] for name in scorers}
    with torch.no_grad():
        for r in range(rounds):
            for name, scorer in scorers.items():
                x = torch.rand(shapes[name], device=device) * 255
                times[name].append(median_seconds(lambda: scorer(x), device, warmup=3 if r == 0 else 1, repeats=5))
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def cell_points(rows: list[dict]) -> list[dict]:
    """One point per cell: its mean test AUC over the training seeds, and its latency."""
    points = {}
    for row in rows:
        point = points.setdefault(row["cell"], {"cell": row["cell"], "kind": row["kind"], "aucs": [],
                                                "latency_ms": row["latency_ms"]})
        point["aucs"].append(_number(row["test_auc"]))
    for point in points.values():
        finite = [a for a in point.pop("aucs") if math.isfinite(a)]
        point["auc"] = statistics.fmean(finite) if finite else math.nan
    return list(points.values())


def _csv(rows: list[dict], fields=ROW_FIELDS) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return text.getvalue()


def _finite_or_none(value):
    """JSON has no NaN; metrics.json writes an undefined AUC as null, and so do the rows."""
    return value if value is None or math.isfinite(value) else None


def _number(value) -> float:
    return float(value) if value is not None else math.nan


def summarise(rows: list[dict], train_seeds: int, device: str = "cpu") -> str:
    """summary.md: the groups, the published cells one by one, the verdict, and the cost (latency on `device`)."""
    cells: dict[str, dict] = {}
    for row in rows:
        cell = cells.setdefault(row["cell"], {"kind": row["kind"], "genotype": row["genotype"], "aucs": [],
                                              "params": row["params"], "skips": row["normal_skips"],
                                              "latency": _number(row.get("latency_ms"))})
        cell["aucs"].append(_number(row["test_auc"]))
    for cell in cells.values():
        # A cell is judged by its mean over the training seeds; the groups' spread is then between cells.
        cell["finite"] = [a for a in cell["aucs"] if math.isfinite(a)]
        cell["auc"] = statistics.fmean(cell["finite"]) if cell["finite"] else math.nan
    lines = ["# Search quality: searched against random against published cells", "",
             f"Test AUC of each cell's final network, all trained with one recipe; a cell's AUC is its mean over "
             f"{train_seeds} training seed(s). Rows: rows.csv; settings: protocol.yaml.", "",
             "| group | n | test AUC mean ± std | min | max | params mean |", "|---|---|---|---|---|---|"]
    groups = {}
    for kind in KINDS:
        members = [c for c in cells.values() if c["kind"] == kind]
        if kind in ("latency-aware", "random-search") and not members:
            continue  # a group only when latency-aware searches ran, or random search chose a cell of its own
        aucs = [c["auc"] for c in members if math.isfinite(c["auc"])]
        groups[kind] = aucs
        if not aucs:
            lines.append(f"| {kind} | {len(members)} | - | - | - | - |")
            continue
        std = f" ± {statistics.stdev(aucs):.4f}" if len(aucs) > 1 else ""
        params = statistics.fmean(c["params"] for c in members)
        lines.append(f"| {kind} | {len(members)} | {statistics.fmean(aucs):.4f}{std} | {min(aucs):.4f} | "
                     f"{max(aucs):.4f} | {params:,.0f} |")
    missing = [name for name, c in cells.items() if not math.isfinite(c["auc"])]
    if missing:
        lines += ["", f"No test AUC (left out above): {', '.join(missing)}."]
    searched_mean = statistics.fmean(groups["searched"]) if groups["searched"] else math.nan
    lines.append("")
    for name, c in cells.items():
        if c["kind"] == "published":
            versus = (f"; searched mean minus this: {searched_mean - c['auc']:+.4f}"
                      if math.isfinite(searched_mean) and math.isfinite(c["auc"]) else "")
            lines.append(f"- {name} ({c['genotype']}): test AUC {c['auc']:.4f}, {c['params']:,} params, "
                         f"{c['skips']} skips in the normal cell{versus}")
    lines += ["", noise_line(cells, train_seeds), "", verdict(cells, groups), ""]
    lines += cost_lines(cells, train_seeds, device)
    return "\n".join(lines)


def pooled_noise(cells: dict) -> tuple[float, int]:
    """(the pooled standard deviation of one cell's test AUC between training seeds, the cells it pools); NaN
    when no cell has two seeds. Pooled: each cell's seeds scatter around its own mean, whatever that mean is."""
    variances = [statistics.variance(c["finite"]) for c in cells.values() if len(c["finite"]) > 1]
    return (math.sqrt(statistics.fmean(variances)) if variances else math.nan), len(variances)


def cost_lines(cells: dict, train_seeds: int, device: str) -> list[str]:
    """The cost table (measured latency per group, pareto.png) and how each latency-aware cell does against the
    random cells: within the training noise of the best one's AUC, at 0.6 of the median one's latency or less?"""
    if not any(math.isfinite(c["latency"]) for c in cells.values()):
        return []
    lines = ["## Cost", "", f"Latency of each cell's final network on the {device} at batch 1, all measured side by "
             f"side in one process after the trainings (pareto.png draws test AUC against it).", "",
             "| group | n | latency ms mean | min | max |", "|---|---|---|---|---|"]
    for kind in KINDS:
        lat = [c["latency"] for c in cells.values() if c["kind"] == kind and math.isfinite(c["latency"])]
        if lat:
            lines.append(f"| {kind} | {len(lat)} | {statistics.fmean(lat):.3f} | {min(lat):.3f} | {max(lat):.3f} |")
    random = [c for c in cells.values() if c["kind"] == "random" and math.isfinite(c["auc"])]
    aware = [(name, c) for name, c in cells.items() if c["kind"] == "latency-aware" and math.isfinite(c["auc"])]
    if random and aware:
        best = max(random, key=lambda c: c["auc"])
        median = statistics.median(c["latency"] for c in random)
        se = pooled_noise(cells)[0] / math.sqrt(train_seeds)
        lines.append("")
        for name, c in aware:
            ratio = c["latency"] / median
            close = c["auc"] >= best["auc"] - 2 * se if math.isfinite(se) else None
            judged = ("not judged: one training seed, so the noise is not known" if close is None else
                      f"the goal {'is met' if close and ratio <= 0.6 else 'is not met'}")
            noise = f"; 2 standard errors of training noise: {2 * se:.4f}" if math.isfinite(se) else ""
            lines.append(f"- {name}: test AUC {c['auc']:.4f} against the best random cell's {best['auc']:.4f} "
                         f"({c['auc'] - best['auc']:+.4f}{noise}), latency {c['latency']:.3f} ms = {ratio:.2f}x the "
                         f"median random cell's {median:.3f} ms: {judged} (within noise of the best random AUC at "
                         f"<= 0.6x its latency)")
    return lines + [""]


def noise_line(cells: dict, train_seeds: int) -> str:
    """How much one cell's test AUC moves between training seeds: the yardstick for every gap in the table."""
    std, pooled = pooled_noise(cells)
    if not pooled:
        return ("Training noise: not measured (one training seed per cell), so a gap between two cells may be "
                "training luck alone; `--train-seeds 0 1 2` measures it.")
    return (f"Training noise: one cell's test AUC varies between training seeds with a pooled standard deviation "
            f"of {std:.4f} ({pooled} cells); a cell's mean over {train_seeds} seeds is known to about "
            f"±{std / math.sqrt(train_seeds):.4f}.")


def verdict(cells: dict, groups: dict) -> str:
    searched, random = groups["searched"], groups["random"]
    if not searched or not random:
        return (f"**Verdict:** none: it needs searched and random cells with a test AUC (searched: {len(searched)}, "
                f"random: {len(random)}).")
    s, r = statistics.fmean(searched), statistics.fmean(random)
    text = (f"**Verdict:** the searched mean {s:.4f} {'beats' if s > r else 'does not beat'} the random mean {r:.4f} "
            f"({s - r:+.4f}")
    std = statistics.stdev(random) if len(random) > 1 else math.nan
    if std > 0:
        text += f", {(s - r) / std:+.2f} random-group standard deviations)"
    else:
        text += "; no random-group standard deviation: " + ("one random cell)" if len(random) < 2 else
                                                            "the random cells all scored the same)")
    others = [c["auc"] for c in cells.values() if c["kind"] in ("random", "published") and math.isfinite(c["auc"])]
    everyone = sorted((c["auc"] for c in cells.values() if math.isfinite(c["auc"])), reverse=True)
    ranks = sorted(1 + sum(a > c["auc"] for a in everyone) for c in cells.values()
                   if c["kind"] == "searched" and math.isfinite(c["auc"]))
    text += (f". Ranked by test AUC, the searched mean would place {1 + sum(a > s for a in others)} of "
             f"{len(others) + 1} among the random and published cells; the searched cells place "
             f"{', '.join(map(str, ranks))} of {len(everyone)} cells.")
    return text


def costs(cfg: ProtocolConfig, cells: list[Cell]) -> dict[str, dict]:
    """What each candidate cost before its final training, in core-seconds (select.core_seconds): its search, its
    derivation (perturbation cells) and its short training."""
    out, spent = Path(cfg.out), {}
    for cell in cells:
        if cell.kind not in SELECTED:
            continue
        search = derive = None
        if cell.search_seed is not None:
            run_dir = out / searched_name(cell.search_seed, 0).replace("searched", "search")
            search = core_seconds(run_dir)
            if cell.kind == "searched-perturbation":
                meta = cell.genotype.meta
                derive = meta.get("derive_cpu_seconds")
                if derive is None and "derive_seconds" in meta:  # derived before CPU time was recorded
                    derive = round(meta["derive_seconds"] * meta["derive_threads"], 1)
        spent[cell.name] = {"search_core_seconds": search, "derive_core_seconds": derive,
                            "select_core_seconds": core_seconds(out / f"select-{cell.name}")}
    return spent


def paired(a: dict, b: dict) -> tuple[float, float, int]:
    """(mean of a[s] - b[s] over the seeds both have, its standard error, the seeds): NaN error below 2 seeds."""
    diffs = [a[s] - b[s] for s in a if s in b and math.isfinite(a[s]) and math.isfinite(b[s])]
    if not diffs:
        return math.nan, math.nan, 0
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan
    return statistics.fmean(diffs), se, len(diffs)


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation, NaN with fewer than 3 pairs or a constant side."""
    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)]
    if len(pairs) < 3 or len({a for a, _ in pairs}) < 2 or len({b for _, b in pairs}) < 2:
        return math.nan
    return float(scipy.stats.spearmanr(*zip(*pairs)).statistic)


def _diff(d: tuple[float, float, int]) -> str:
    mean, se, n = d
    if not n:
        return "-"
    return f"{mean:+.4f}" + (f" ± {se:.4f}" if math.isfinite(se) else " (1 seed)")


def choices(cells: list[Cell], derive: list[str]) -> tuple[dict[str, Cell], Optional[Cell]]:
    """The cell each rule ("supernet, argmax", ... "retrain, perturbation") chooses among the searched candidates,
    and random search's choice: the random cell with the best short training (None without one)."""
    rules = [(f"{by}, {how}", kind, by) for by in ("supernet", "retrain") for how, kind in
             (("argmax", "searched"), ("perturbation", "searched-perturbation")) if how in derive]
    chosen = {}
    for label, kind, by in rules:
        key = "search_val_auc" if by == "supernet" else "select_val_auc"
        pool = [c for c in cells if c.kind == kind and getattr(c, key) is not None]
        if pool:
            chosen[label] = max(pool, key=lambda c: getattr(c, key))
    scored = [c for c in cells if c.kind in ("random", "random-search") and c.select_val_auc is not None]
    return chosen, max(scored, key=lambda c: c.select_val_auc) if scored else None


def choice_lines(cells: list[Cell], rows: list[dict], spent: dict, cfg: ProtocolConfig) -> list[str]:
    """summary.md's "Choosing the cell": the cell each rule chose and random search's, paired by training seed with
    the mean random cell and with random search; how well each signal ranked the candidates; the compute of each
    arm; the verdict."""
    auc = {}  # cell -> {train seed: test AUC}
    for row in rows:
        auc.setdefault(row["cell"], {})[row["train_seed"]] = _number(row["test_auc"])
    by_name = {c.name: c for c in cells}
    random = [c for c in cells if c.kind == "random"]
    seeds = cfg.train_seeds
    mean_random = {s: statistics.fmean(auc[c.name][s] for c in random) for s in seeds
                   if random and all(math.isfinite(auc[c.name].get(s, math.nan)) for c in random)}
    random_means = [statistics.fmean(auc[c.name][s] for s in mean_random) for c in random if mean_random]
    cell_se = statistics.stdev(random_means) / math.sqrt(len(random_means)) if len(random_means) > 1 else math.nan
    chosen, best_random = choices(cells, cfg.derive)
    lines = ["## Choosing the cell", "",
             f"Candidates: {sum(c.kind == 'searched' for c in cells)} argmax and "
             f"{sum(c.kind == 'searched-perturbation' for c in cells)} perturbation cells of "
             f"{len(cfg.search_seeds)} searches, and {len(random)} random cells"
             + (f", with {sum(c.kind == 'random-search' for c in cells)} more for random search at equal budget"
                if any(c.kind == "random-search" for c in cells) else "") + ". Each got a short training of "
             f"{cfg.select_epochs} epoch(s) (training seed {seeds[0]}), scored on its validation split; the test "
             f"split decided nothing. Each rule's cell and random search's (the random cell with the best short "
             f"training) are compared by training seed: a difference is the mean over seeds of (this cell's test AUC "
             f"minus the other's, same seed) ± its standard error.", "",
             "| rule | cell | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | minus the mean random cell | "
             "minus random search |", "|---" * (len(seeds) + 5) + "|"]
    finalists = [(label, c) for label, c in chosen.items()]
    if best_random is not None:
        finalists.append(("random search", best_random))
    finalists += [(c.name, c) for c in cells if c.kind == "published"]
    for label, c in finalists:
        mine = auc.get(c.name, {})
        values = [mine.get(s, math.nan) for s in seeds]
        finite = [v for v in values if math.isfinite(v)]
        versus_random = _diff(beyond(paired(mine, mean_random), cell_se))
        versus_search = _diff(paired(mine, auc[best_random.name])) if best_random is not None else "-"
        lines.append(f"| {label} | {c.name} | " + " | ".join(f"{v:.4f}" for v in values)
                     + f" | {statistics.fmean(finite) if finite else math.nan:.4f} | {versus_random} | "
                     f"{versus_search} |")
    if mean_random:
        values = [mean_random.get(s, math.nan) for s in seeds]
        lines.append(f"| mean random cell | {len(random)} cells | " + " | ".join(f"{v:.4f}" for v in values)
                     + f" | {statistics.fmean(mean_random.values()):.4f} | | |")
    mean_auc = {name: statistics.fmean(v for v in a.values() if math.isfinite(v)) if any(
        math.isfinite(v) for v in a.values()) else math.nan for name, a in auc.items()}
    searched = [c for c in cells if c.kind in ("searched", "searched-perturbation")]
    candidates = searched + random
    signal = [("supernet validation AUC", "search_val_auc", searched, "searched cells"),
              ("short-training validation AUC", "select_val_auc", candidates, "candidates"),
              ("short-training validation AUC", "select_val_auc", random, "random cells")]
    lines += ["", "How well each signal ranked the candidates by their final test AUC (mean over training seeds), as "
                  "Spearman's rho:", ""]
    for name, key, pool, what in signal:
        pool = [c for c in pool if math.isfinite(mean_auc.get(c.name, math.nan))]  # --train-unchosen false skips some
        rho = spearman([getattr(c, key) for c in pool], [mean_auc[c.name] for c in pool])
        lines.append(f"- {name}, over the {len(pool)} {what} with a final training: " + (
            "not defined (fewer than 3 cells, or ties)" if math.isnan(rho) else f"{rho:+.2f}"))
    lines += cost_of_arms(chosen, best_random, cells, rows, spent, cfg)
    lines += ["", f"A difference from the mean random cell is known to its paired standard error over the training "
                  f"seeds and, beside it, the sampling error of a mean of {len(random)} random cells "
                  f"({cell_se:.4f}: their spread over the root of their number), since the claim is about the "
                  f"random cells of the space, not these."] if math.isfinite(cell_se) else []
    lines += ["", goal_line(chosen, best_random, auc, mean_random, cell_se), ""]
    return lines


def _spent(spent: dict, key: str, names) -> float:
    return sum(spent[n][key] or 0 for n in names)


def arm_costs(chosen: dict, cells: list[Cell], spent: dict) -> list[tuple[str, float, float, float]]:
    """(rule, searches, derivations, short trainings) of each searched arm: its compute before the final training.
    Every rule pays for all the searches; a rule reading by perturbation pays for the derivations, and a rule
    choosing by retraining for the short trainings of its candidates."""
    searches = sum({c.search_seed: spent[c.name]["search_core_seconds"] or 0 for c in cells
                    if c.kind in ("searched", "searched-perturbation")}.values())
    arms = []
    for label, cell in chosen.items():
        pool = [c.name for c in cells if c.kind == cell.kind]
        arms.append((label, searches, _spent(spent, "derive_core_seconds", pool),
                     _spent(spent, "select_core_seconds", pool) if label.startswith("retrain") else 0))
    return arms


def cost_of_arms(chosen: dict, best_random: Optional[Cell], cells: list[Cell], rows: list[dict], spent: dict,
                 cfg: ProtocolConfig) -> list[str]:
    """The compute each arm used, so that "equal budget" is shown: searches, derivations, short trainings, and the
    final training of its chosen cell with one seed."""
    def final(cell: Cell) -> float:
        return statistics.fmean(r["core_seconds"] or 0 for r in rows if r["cell"] == cell.name)

    lines = ["", "Compute of each arm, in core-seconds (the CPU time of the runs, one machine): its searches, "
                 "derivations and short trainings, and its chosen cell's final training (one seed).", "",
             "| arm | searches | derivations | short trainings | final training | total |", "|---|---|---|---|---|---|"]
    arms = [(*arm, final(chosen[arm[0]])) for arm in arm_costs(chosen, cells, spent)]
    pool = [c.name for c in cells if c.kind in ("random", "random-search")]
    if best_random is not None:
        arms.append(("random search", 0, 0, _spent(spent, "select_core_seconds", pool), final(best_random)))
    for label, *parts in arms:
        lines.append(f"| {label} | " + " | ".join(f"{p:,.0f}" for p in parts) + f" | {sum(parts):,.0f} |")
    if best_random is not None and len(arms) > 1:
        per_cell = _spent(spent, "select_core_seconds", pool) / len(pool)
        most = max(sum(parts[:3]) for label, *parts in arms if label != "random search")
        if per_cell > 0 and most > 0:  # runs of under a second record no time
            lines += ["", f"Before the final trainings, random search used {arms[-1][3] / most:.2f}x the compute of "
                          f"the costliest searched arm: it gave the short training to {len(pool)} random cells, and "
                          f"at equal compute could have given it to about {most / per_cell:.0f} "
                          f"(random_search: {cfg.random_search})."]
    return lines


def beyond(d: tuple[float, float, int], cell_se: float) -> tuple[float, float, int]:
    """A paired difference from the mean random cell with the sampling error of that mean (`cell_se`) added to its
    standard error: the seeds pair the training noise, but every seed trains the same few random cells. With one
    random cell there is no spread to measure (`cell_se` NaN), and the paired error stands alone."""
    mean, se, n = d
    return mean, math.hypot(se, cell_se) if math.isfinite(cell_se) else se, n


def goal_line(chosen: dict, best_random: Optional[Cell], auc: dict, mean_random: dict, cell_se: float) -> str:
    """The goal of the protocol, judged for each rule: the chosen cell beats the mean random cell by more than two
    standard errors (training noise and the sampling error of the random cells' mean), and at least ties random
    search (is not worse by more than two standard errors)."""
    if not chosen or not mean_random:
        return "**Goal:** not judged: it needs searched cells and random cells with test AUCs."
    parts, met = [], 0
    for label, cell in chosen.items():
        beat, se, n = beyond(paired(auc[cell.name], mean_random), cell_se)
        if n < 2:
            parts.append(f"{label}: not judged (one training seed, so the error is unknown)")
            continue
        tie = True
        text = (f"{label}: {'beats' if beat > 2 * se else 'does not beat'} the mean random cell by more than 2 "
                f"standard errors ({beat:+.4f}, 2 SE {2 * se:.4f})")
        if best_random is not None:
            gap, gap_se, _ = paired(auc[cell.name], auc[best_random.name])
            tie = gap >= -2 * gap_se
            text += f", and {'ties or beats' if tie else 'loses to'} random search ({gap:+.4f}, 2 SE {2 * gap_se:.4f})"
        met += beat > 2 * se and tie
        parts.append(text)
    return (f"**Goal** (the chosen searched cell beats the mean random cell by more than 2 standard errors and at "
            f"least ties random search): {f'met by {met} rule(s)' if met else 'not met'}. " + "; ".join(parts) + ".")
