"""Combine the test scores of several trained runs into one, as the ensembles of the ResNeXt report did (0.9984 AUC).

Every run must be a finished training run on the same splits (the same data and --seed), so that its
validation and test scores are of the same images. The scores are averaged (mean of probabilities, or of ranks
scaled to 0..1), with weights fitted on the validation split: of equal weights, each run alone, and random points
of the simplex, the weights of the best validation AUC. The threshold is chosen on the validation split, as in
training. DIR gets metrics.json, predictions.csv, roc.png (and submission.csv for an unlabelled test folder), as a
training run does, and ensemble.json with each run's weight and AUCs.
"""
from __future__ import annotations

import csv
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Optional

import numpy as np
import tyro
from scipy.stats import rankdata

from ..config import DEFAULT_IN_HELP
from ..data import saved_ids
from ..errors import UserError
from ..io import read_user_text
from ..metrics import auc, choose_threshold
from ..report import write_report, write_submission
from ..runs import (BEST, COMMANDS, ENSEMBLE, PREDICTIONS, SPLITS, SUBMISSION, Run, load_checkpoint, read_config,
                    run_info)
from .study import check_trained
RANDOM_WEIGHTS = 2000  # points of the simplex tried when fitting weights


@dataclass
class EnsembleConfig:
    """Settings of `darts-nexp ensemble` (docs/explain.md)."""
    runs: Annotated[tyro.conf.Positional[list[str]], tyro.conf.arg(metavar="RUN_DIR...", help_behavior_hint="")
                    ] = field(default_factory=list)
    """run directories of finished darts-nexp train runs on the same splits"""
    out: Annotated[Optional[str], DEFAULT_IN_HELP] = None
    """output folder (default runs/ensemble-<date>-<time>)"""
    combine: Literal["mean", "rank"] = "mean"
    """mean of probabilities, or mean of ranks (robust to runs whose scores are differently calibrated)"""
    weights: Literal["fit", "equal"] = "fit"
    """fit: the weights of the best validation AUC; equal: a plain average"""
    seed: int = 0
    """seeds the random weights tried when fitting"""

    def validate(self) -> None:
        if len(self.runs) < 2:
            raise UserError(f"an ensemble needs at least 2 runs (got {len(self.runs)}); pass the run directories "
                            f"of several training runs: {COMMANDS['ensemble']} RUN_DIR RUN_DIR ... --out DIR")
        resolved = [Path(r).resolve() for r in self.runs]
        if len(set(resolved)) < len(resolved):
            twice = next(r for r in self.runs if resolved.count(Path(r).resolve()) > 1)
            raise UserError(f"{twice} is given twice; pass each run once")


@dataclass
class Member:
    path: Path
    model: str
    ids: dict  # split -> image ids (splits.json)
    val: np.ndarray  # scores of ids["val"]
    val_labels: np.ndarray
    test_labels: np.ndarray  # of ids["test"], as predictions.csv lists them
    test: np.ndarray
    unlabelled: Optional[np.ndarray]  # scores of ids["unlabelled"], when the test folder has no labels


DAMAGED = "restore it from a copy, or train the run again"


def _read_scores(path: Path, header: list[str], ids: list[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores, labels: -1 where the file has none) of a predictions.csv (id,label,defect_score, and since 0.3 more
    columns after them) or submission.csv (id,defect_score) that darts-nexp wrote for the run's `split`, whose
    images are `ids` (splits.json). Anything else was edited or cut short since, and is refused naming the line and
    the column."""
    lines = read_user_text(path, "CSV file", DAMAGED).splitlines()
    where = f"{path} is malformed:"
    try:
        rows = list(csv.reader(lines))
    except csv.Error as e:
        raise UserError(f"{where} it is not valid CSV ({e}); {DAMAGED}") from None
    if not rows or rows[0][:len(header)] != header:
        found = repr(lines[0][:80]) if lines else "an empty file"
        raise UserError(f"{where} line 1 must be the header {','.join(header)} (found {found}); {DAMAGED}")
    columns = rows[0]
    scores, labels = [], []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(columns):
            raise UserError(f"{where} line {n} has {len(row)} column(s), expected {len(columns)} "
                            f"({','.join(columns)}); {DAMAGED}")
        cell = dict(zip(columns, row))
        try:
            score = float(cell["defect_score"])
        except ValueError:
            score = math.nan
        if not 0 <= score <= 1:
            raise UserError(f"{where} line {n}, column defect_score: {cell['defect_score']!r} is not a score from 0 to "
                            f"1; {DAMAGED}")
        if "label" in cell and cell["label"] not in ("0", "1"):
            raise UserError(f"{where} line {n}, column label: {cell['label']!r} is not 0 or 1; {DAMAGED}")
        scores.append(score)
        labels.append(int(cell.get("label", -1)))
    for n, (got, wanted) in enumerate(itertools.zip_longest([row[0] for row in rows[1:]], ids), start=2):
        if got is None:
            raise UserError(f"{where} it ends at line {n - 1}, before the last of the {len(ids)} {split} images that "
                            f"the run's {SPLITS} lists (cut short?); {DAMAGED}")
        if got != wanted:
            there = repr(wanted) if wanted is not None else f"none: it lists {len(ids)}"
            raise UserError(f"{where} line {n}, column id: {got!r} is not the {split} image that the run's {SPLITS} "
                            f"lists there ({there}); {DAMAGED}")
    return np.array(scores), np.array(labels)


def load_member(run_dir: str) -> Member:
    path = check_trained(run_dir, COMMANDS["ensemble"])
    if run_info(path).get("status") != "finished":
        raise UserError(f"{path} has not finished (no test scores in {PREDICTIONS}); finish it with "
                        f"{COMMANDS['train']} --resume {path}")
    if not (path / PREDICTIONS).is_file() and read_config(path).get("test") is False:
        raise UserError(f"{path} was trained with --test false, so it has no test scores ({PREDICTIONS}); an "
                        f"ensemble combines the test scores of its runs: pass runs trained with --test true")
    if not (path / PREDICTIONS).is_file():
        # A resume of a finished run trains no further: it scores best.pt on the test split again.
        raise UserError(f"{path} has lost {PREDICTIONS}, its test scores (deleted or moved?); restore it, or score "
                        f"the test split again with {COMMANDS['train']} --resume {path}")
    ids = saved_ids(path)
    if ids is None or "val" not in ids or "test" not in ids:
        raise UserError(f"{path / SPLITS} is damaged (it lists no val and test image ids), so the run's images are "
                        f"unknown; {DAMAGED}")
    best = load_checkpoint(path / BEST, ("best",), hint="train the run again")
    val, val_labels = best["val"]["scores"].double().numpy(), best["val"]["labels"].numpy()
    if len(val) != len(ids["val"]):
        raise UserError(f"{path}: {BEST} holds {len(val)} validation scores for {len(ids['val'])} validation "
                        f"images; the run is damaged")
    test, test_labels = _read_scores(path / PREDICTIONS, ["id", "label", "defect_score"], ids["test"], "test")
    unlabelled = None
    if "unlabelled" in ids and (path / SUBMISSION).is_file():
        unlabelled, _ = _read_scores(path / SUBMISSION, ["id", "defect_score"], ids["unlabelled"], "unlabelled")
    return Member(path, best["model"]["name"], ids, val, val_labels, test_labels, test, unlabelled)


def check_same_images(members: list[Member]) -> None:
    first = members[0]
    for m in members[1:]:
        for split in ("val", "test"):
            if m.ids[split] != first.ids[split]:
                raise UserError(f"{first.path} and {m.path} were trained on different splits (their {split} images "
                                f"differ: another --seed or other data); an ensemble combines runs on the same "
                                f"splits")


def combine(scores: list[np.ndarray], weights: np.ndarray, how: str) -> np.ndarray:
    """The weighted mean of the runs' scores of one set of images (ranks scaled to 0..1 with `how` "rank")."""
    if how == "rank":
        scores = [(rankdata(s) - 1) / max(len(s) - 1, 1) for s in scores]
    return np.average(np.stack(scores), axis=0, weights=weights)


def fit_weights(members: list[Member], how: str, seed: int) -> np.ndarray:
    """The weights, among equal ones, each run alone and random points of the simplex, of the best validation AUC
    (equal weights win a tie)."""
    k = len(members)
    candidates = np.concatenate([np.full((1, k), 1 / k), np.eye(k),
                                 np.random.default_rng(seed).dirichlet(np.ones(k), RANDOM_WEIGHTS)])
    labels, val = members[0].val_labels, [m.val for m in members]
    aucs = [auc(labels, combine(val, w, how)) for w in candidates]
    return candidates[int(np.nanargmax(aucs))]


def run(cfg: EnsembleConfig) -> dict:
    members = [load_member(r) for r in cfg.runs]
    check_same_images(members)
    k, labels = len(members), members[0].val_labels
    weights = fit_weights(members, cfg.combine, cfg.seed) if cfg.weights == "fit" else np.full(k, 1 / k)
    val = combine([m.val for m in members], weights, cfg.combine)
    test = combine([m.test for m in members], weights, cfg.combine)
    threshold = {**choose_threshold(labels, val), "chosen_on": "validation"}
    out = Run.open(cfg.out, "ensemble")
    info = {"runs": [str(m.path) for m in members], "weights": [float(w) for w in weights], "combine": cfg.combine,
            "val_auc": auc(labels, val)}
    first = members[0]
    metrics, files = write_report(out.path, first.ids["test"], first.test_labels, test, threshold, info,
                                  title=f"ensemble of {k} runs: test ROC ({len(test)} images)")
    if all(m.unlabelled is not None for m in members):
        unlabelled = combine([m.unlabelled for m in members], weights, cfg.combine)
        files.append(write_submission(out.file(SUBMISSION), first.ids["unlabelled"], unlabelled))
    summary = {
        "combine": cfg.combine, "weights": cfg.weights,
        "members": [{"run": str(m.path), "model": m.model, "weight": float(w), "val_auc": auc(labels, m.val),
                     "test_auc": auc(m.test_labels, m.test)} for m, w in zip(members, weights)],
        "val_auc_equal_weights": auc(labels, combine([m.val for m in members], np.full(k, 1 / k), cfg.combine)),
        "val_auc": info["val_auc"], "test_auc": metrics["auc"],
    }
    files.append(out.write(ENSEMBLE, json.dumps(summary, indent=1) + "\n"))
    out.finish()
    print(f"ensemble of {k} runs ({cfg.combine} of scores, {cfg.weights} weights):")
    for m in summary["members"]:
        print(f"  {m['weight']:.3f} x {m['model']:16s} val AUC {m['val_auc']:.4f}  test AUC {m['test_auc']:.4f}  "
              f"{m['run']}")
    print(f"  ensemble               val AUC {summary['val_auc']:.4f}  test AUC {summary['test_auc']:.4f}")
    for path in files:
        print(f"  {path.name + ':':17s}{path}")
    return {"out": out.path, "metrics": metrics, "summary": summary}
