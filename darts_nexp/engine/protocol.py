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
import datetime
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import torch
import tyro
import yaml

from .. import config
from ..data import DataConfig
from ..errors import UserError
from ..final import param_count
from ..io import write_atomic
from ..runs import CONFIG, GENOTYPE, HISTORY, METRICS, run_info, run_kind, saved_config
from ..deploy import lut
from ..deploy.latency import machine, median_seconds
from ..deploy.scorer import Scorer
from ..plots import plot_pareto
from ..runtime import start_runtime
from ..space import Genotype, auto_stem, genotype_file
from . import sample as sampler
from . import search as search_engine
from . import train as train_engine
from .search import SearchConfig
from .train import TrainConfig

DARTS_V2 = "darts_v2"  # a published genotype, by name (space.Genotype.load)
KINDS = ("searched", "latency-aware", "random", "published")
ROW_FIELDS = ("kind", "cell", "genotype", "search_seed", "train_seed", "test_auc", "val_auc", "params",
              "latency_ms", "predicted_latency_ms", "normal_skips", "search_val_auc", "seconds", "run_dir")


@dataclass
class SearchSection(SearchConfig):
    """`darts-nexp search` settings shared by every search of the protocol. seed, out, genotype_out and the latency
    settings are set per search by the protocol, and data comes from protocol.data; only data.image_size may be
    given here (in the config file)."""
    seed: Annotated[int, tyro.conf.Suppress] = 0
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
    data: Annotated[DataConfig, tyro.conf.Suppress] = field(default_factory=DataConfig)


# The fields above that the protocol sets for each run: a value given for one is refused, not silently replaced.
PER_RUN = {"search": ("seed", "out", "genotype_out", "latency_weight", "latency_table"),
           "train": ("genotype", "seed", "out")}


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


def _same_cell(a: Genotype, b: Genotype) -> bool:
    return (a.normal, a.normal_concat, a.reduce, a.reduce_concat) == (b.normal, b.normal_concat, b.reduce,
                                                                      b.reduce_concat)


# Settings that do not change what a run computes, or that the protocol sets per run and checks otherwise.
IGNORED = {"out", "genotype", "genotype_out", "progress", "device", "threads", "data.cache_dir", "latency_table"}


def _changes(saved: dict, wanted) -> list[str]:
    """The settings in which a run's saved config.yaml differs from what the protocol would run now. A setting that
    an older darts-nexp did not save counts as its default."""
    found = []
    defaults = config.differences(config.to_dict(type(wanted)()), {})
    for name, (value, old) in config.differences(config.to_dict(wanted), saved).items():
        if name in IGNORED or (name == "stem" and value == "auto") or (name == "data.image_size" and value is None):
            continue  # "auto" and None are resolved by the run itself and saved resolved
        if old is None and name in defaults and defaults[name][0] == value:
            continue
        found.append(f"{name} {old!r} (now {value!r})")
    return found


def _run_state(path: Path, kind: str, wanted) -> str:
    """"new", "finished" or "unfinished", after refusing a run of another kind or of other settings."""
    found = run_kind(path) if path.is_dir() else None
    if found is None:
        return "new"  # absent or empty; a folder of foreign files is refused by Run.open with its own message
    if found != kind:
        raise UserError(f"{path} holds a {found} run where the protocol keeps a {kind} run; move it away or pass a "
                        f"new --out")
    if (path / CONFIG).is_file():
        changed = _changes(saved_config(path, kind), wanted)
        if changed:
            changed = "; ".join(f"{kind}.{c}" for c in changed)
            raise UserError(f"{path} was run with other settings: {changed}. The protocol compares runs made the "
                            f"same way: restore those settings, or pass a new --out")
    return "finished" if run_info(path).get("status") == "finished" else "unfinished"


def _seconds(path: Path) -> Optional[float]:
    """Wall time from the run's creation to its finish, as run.json records them (a resumed run's pause counts)."""
    info = run_info(path)
    if "created" not in info or "finished" not in info:
        return None
    delta = datetime.datetime.fromisoformat(info["finished"]) - datetime.datetime.fromisoformat(info["created"])
    return delta.total_seconds()


class Progress:
    def __init__(self, total: int):
        self.done, self.total = 0, total

    def __call__(self, text: str) -> None:
        self.done += 1
        print(f"\n[{self.done}/{self.total}] {text}", flush=True)


def searched_name(seed: int, weight: float) -> str:
    return f"searched-{seed}" if weight == 0 else f"searched-{seed}-latency-{weight:g}"


def _search(cfg: ProtocolConfig, seed: int, weight: float, table: Optional[Path], progress: Progress) -> Cell:
    out, name = Path(cfg.out), searched_name(seed, weight)
    run_dir, export = out / name.replace("searched", "search"), out / "genotypes" / f"{name}.yaml"
    scfg = plain(shared_data(cfg.search, cfg.data), SearchConfig)
    scfg.seed, scfg.out, scfg.genotype_out = seed, str(run_dir), str(export)
    scfg.latency_weight, scfg.latency_table = weight, str(table) if table else None
    state = _run_state(run_dir, "search", scfg)
    if state == "finished":
        progress(f"search {name}: finished earlier in {run_dir}, kept")
        if not export.is_file():  # the export was deleted; the run keeps its own copy
            Genotype.load(run_dir / GENOTYPE).save(export)
    else:
        progress(f"search {name}" + (f": resuming the unfinished run in {run_dir}" if state == "unfinished"
                                          else ""))
        search_engine.run(scfg, resume=state == "unfinished")
    history = yaml.safe_load((run_dir / HISTORY).read_text(encoding="utf-8")) or [{}]
    return Cell("searched" if weight == 0 else "latency-aware", name, export, Genotype.load(export), seed,
                _finite_or_none(history[-1].get("val_auc")))


def _train(cfg: ProtocolConfig, cell: Cell, seed: int, progress: Progress) -> dict:
    run_dir = Path(cfg.out) / f"train-{cell.name}-seed{seed}"
    tcfg = plain(shared_data(cfg.train, cfg.data), TrainConfig)
    tcfg.genotype, tcfg.seed, tcfg.out = str(cell.path), seed, str(run_dir)
    state = _run_state(run_dir, "train", tcfg)
    if state != "new" and (run_dir / GENOTYPE).is_file() and not _same_cell(Genotype.load(run_dir / GENOTYPE),
                                                                            cell.genotype):
        raise UserError(f"{run_dir} trained another cell than {cell.path} holds now; move it away or pass a new "
                        f"--out")
    what = f"training {cell.name} (seed {seed})"
    if state == "finished":
        progress(f"{what}: finished earlier in {run_dir}, kept")
    else:
        progress(what + (f": resuming the unfinished run in {run_dir}" if state == "unfinished" else ""))
        train_engine.run(tcfg, resume=state == "unfinished")
    return _row(cell, seed, run_dir)


def _row(cell: Cell, seed: int, run_dir: Path) -> dict:
    if not (run_dir / METRICS).is_file():
        raise UserError(f"{run_dir / METRICS} is missing, so the run has no test AUC (a test split without labels?); "
                        f"see docs/training.md")
    metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    trained = config.from_dict(TrainConfig, saved_config(run_dir, "train"), str(run_dir / CONFIG))
    with torch.device("meta"):  # shapes only: counting parameters needs no memory and no initialisation
        params = param_count(train_engine.build_model(trained, cell.genotype))
    return {"kind": cell.kind, "cell": cell.name, "genotype": str(cell.path), "search_seed": cell.search_seed,
            "train_seed": seed, "test_auc": metrics.get("auc"), "val_auc": metrics.get("val_auc"), "params": params,
            "normal_skips": cell.genotype.normal_skips, "search_val_auc": cell.search_val_auc,
            "seconds": _seconds(run_dir), "run_dir": str(run_dir)}


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
    searches = len(cfg.search_seeds) * len(cfg.latency_weights)
    cells_count = searches + cfg.n_random + len(cfg.published)
    progress = Progress(searches + (cfg.n_random > 0) + cells_count * len(cfg.train_seeds) + 1)
    table_path, table = latency_table(cfg) if any(cfg.latency_weights) else (None, None)

    cells = [_search(cfg, seed, weight, table_path, progress) for seed in cfg.search_seeds
             for weight in cfg.latency_weights]
    if cfg.n_random:
        scfg = sample_config(cfg)
        progress(f"sampling {cfg.n_random} random cells into {scfg.out}"
                 + (f" (sized like {DARTS_V2})" if cfg.like else ""))
        # Drawn from (random_seed, index) alone, so a rerun writes the very files the earlier runs trained.
        for path in sampler.run(scfg):
            cells.append(Cell("random", path.stem, path, Genotype.load(path)))
    cells += [Cell("published", Path(p).stem, genotype_file(p), g) for p, g in zip(cfg.published, published)]

    rows = [_train(cfg, cell, seed, progress) for cell in cells for seed in cfg.train_seeds]
    device = start_runtime(cfg.train.device, cfg.train.threads)  # the trainings' device and threads
    latency = _latencies(out / "latency.json", cells, rows, device, progress)
    for row in rows:
        row["latency_ms"] = round(latency[row["cell"]], 4)
        cell = next(c for c in cells if c.name == row["cell"])
        row["predicted_latency_ms"] = round(lut.predict(table, cell.genotype), 4) if table else None
    plot_pareto(cell_points(rows), out / "pareto.png", f"test AUC against measured latency (batch 1, {device.type})")
    write_atomic(out / "protocol.yaml", yaml.safe_dump({"protocol": config.to_dict(cfg)}, sort_keys=False))
    write_atomic(out / "rows.json", json.dumps(rows, indent=1) + "\n")
    write_atomic(out / "rows.csv", _csv(rows))
    summary = summarise(rows, len(cfg.train_seeds), device.type)
    write_atomic(out / "summary.md", summary)
    print(f"\n{summary}\nrows: {out / 'rows.csv'}, {out / 'rows.json'}; summary: {out / 'summary.md'}; settings: "
          f"{out / 'protocol.yaml'}")
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
        trained = config.from_dict(TrainConfig, saved_config(run_dir, "train"), str(run_dir / CONFIG))
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


def _csv(rows: list[dict]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=ROW_FIELDS, lineterminator="\n")
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
        if kind == "latency-aware" and not members:
            continue  # a group only when latency-aware searches ran
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
