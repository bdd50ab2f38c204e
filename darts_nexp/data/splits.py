"""Stratified, seeded splits of the labelled images, saved to the run directory as splits.json.

Search (DARTS, Liu et al. 2019, section 2.3) trains weights on one half of the training images and the architecture
on the other. Final training holds out a validation split for model selection, and a labelled test: the test folder
when labels for it were given, otherwise (the real contest data) a held-out part of train.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from ..errors import UserError
from ..io import write_atomic
from ..runs import SPLITS
from .config import DataConfig
from .dedup import redundant
from .imageset import ImageSet, load_dataset

log = logging.getLogger("darts_nexp.data")


class SearchSplits(NamedTuple):
    weight: ImageSet
    arch: ImageSet

    def record(self) -> tuple[dict, dict]:
        """(the parts by name, what else splits.json says)"""
        return {"weight": self.weight, "arch": self.arch}, {"kind": "search"}


@dataclass
class TrainSplits:
    train: ImageSet
    val: ImageSet
    test: ImageSet
    unlabelled: Optional[ImageSet]  # the test folder when it has no labels: scored for submission.csv
    test_source: str  # which images the test is, for every report

    def record(self) -> tuple[dict, dict]:
        parts = {"train": self.train, "val": self.val, "test": self.test}
        if self.unlabelled is not None:
            parts["unlabelled"] = self.unlabelled
        return parts, {"kind": "train", "test_source": self.test_source}


def stratified(labels: np.ndarray, fractions: list[float], seed: int) -> list[np.ndarray]:
    """Split indices into len(fractions) + 1 parts: the given fractions of each class, then the rest."""
    rng = np.random.default_rng(seed)
    parts = [[] for _ in range(len(fractions) + 1)]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cuts = np.round(np.cumsum(fractions) * len(idx)).astype(int)
        for part, chunk in zip(parts, np.split(idx, cuts)):
            part.append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


def _labelled_train(cfg: DataConfig):
    ds = load_dataset(cfg)
    train = ds.train
    if cfg.drop_duplicates:
        drop = redundant(train.images, train.digests)
        if drop.any():
            log.warning(f"dropping {int(drop.sum())} duplicate training image(s) before splitting")
            train = train.subset(np.flatnonzero(~drop), "train")
    for c, name in ((0, "good"), (1, "defect")):
        if (train.labels == c).sum() < 2:
            raise UserError(f"{ds.layout.root} has fewer than 2 readable {name} training images; "
                            f"add images to {ds.layout.defect if c else ds.layout.good}")
    return ds, train


def saved_ids(run_dir: Path) -> dict[str, list[str]] | None:
    """The image ids of each split that the run's splits.json lists (None when it has none, or is unreadable)."""
    try:
        ids = json.loads((Path(run_dir) / SPLITS).read_text(encoding="utf-8")).get("ids")
    except (OSError, ValueError, AttributeError):
        return None
    return ids if isinstance(ids, dict) else None


def check_splits(run_dir: Path, splits: SearchSplits | TrainSplits, hint: str) -> None:
    """Refuse images that differ from those the run's splits.json lists; `hint` says what to do instead. A lost or
    damaged splits.json is refused too: no other file of the run records which images it was split from."""
    before = saved_ids(run_dir)
    if before is None:
        path = Path(run_dir) / SPLITS
        what = "is damaged (it lists no image ids)" if path.exists() else "not found (deleted or moved?)"
        raise UserError(f"{path} {what}, so nothing can check that the images are the run's; restore it, or start "
                        f"a new run with another --out")
    if before != {k: s.ids for k, s in splits.record()[0].items()}:
        raise UserError(f"the images differ from those of the run {run_dir} (its {SPLITS}); {hint}")


def save_splits(run_dir: Path, seed: int, splits: SearchSplits | TrainSplits) -> None:
    """Write splits.json into the run directory; a resumed run must find the very images it started with."""
    parts, info = splits.record()
    # Without a readable one (a new run, or one resumed before its first epoch ended) it is written anew: once an
    # epoch is done, runs._resumable has refused a resume that lost it.
    if saved_ids(run_dir) is not None:
        check_splits(run_dir, splits, "a resumed run needs the same data: restore it, or start a new run")
    ids = {k: s.ids for k, s in parts.items()}
    body = {"seed": seed, **info, "counts": {k: len(s) for k, s in parts.items()}, "ids": ids}
    write_atomic(Path(run_dir) / SPLITS, json.dumps(body, indent=1))


def search_splits(cfg: DataConfig, seed: int) -> SearchSplits:
    """The labelled training images halved, stratified by label: (weight half, architecture half)."""
    _, train = _labelled_train(cfg)
    w, a = stratified(train.labels, [0.5], seed)
    return SearchSplits(train.subset(w, "weight"), train.subset(a, "arch"))


def train_splits(cfg: DataConfig, seed: int) -> TrainSplits:
    """train / val / test for final training; see the module docstring for where the test comes from."""
    ds, train = _labelled_train(cfg)
    labelled_test = ds.test is not None and ds.labels_csv is not None and (ds.test.labels >= 0).any()
    unlabelled = None
    if labelled_test:
        test = ds.test.subset(np.flatnonzero(ds.test.labels >= 0), "test")
        v, t = stratified(train.labels, [cfg.val_fraction], seed)
        val, train = train.subset(v, "val"), train.subset(t, "train")
        source = f"test folder with labels from {ds.labels_csv}"
    else:
        te, v, t = stratified(train.labels, [cfg.test_fraction, cfg.val_fraction], seed)
        test, val, train = train.subset(te, "test"), train.subset(v, "val"), train.subset(t, "train")
        source = f"held-out {cfg.test_fraction:.0%} of train (test folder has no labels)"
        if ds.test is not None:
            unlabelled = ds.test.subset(np.arange(len(ds.test)), "unlabelled")
        else:
            source = f"held-out {cfg.test_fraction:.0%} of train (no test folder)"
    if len(test) == 0 or len(val) == 0:
        raise UserError(f"too few images for val_fraction={cfg.val_fraction} and test_fraction="
                        f"{cfg.test_fraction} ({len(val)} val, {len(test)} test); raise them or add images")
    return TrainSplits(train, val, test, unlabelled, source)
