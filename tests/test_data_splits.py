"""Stratified seeded splits, splits.json, and which images serve as the labelled test."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from test_data_util import config, make_layout

from darts_nexp.data import save_splits, search_splits, train_splits
from darts_nexp.data.splits import stratified
from darts_nexp.errors import UserError


def test_stratified_keeps_class_ratio_and_is_seeded():
    labels = np.array([0] * 80 + [1] * 20)
    a, b = stratified(labels, [0.5], seed=0)
    assert len(a) == len(b) == 50 and labels[a].sum() == labels[b].sum() == 10
    assert not set(a) & set(b)
    assert (stratified(labels, [0.5], seed=0)[0] == a).all() and not (stratified(labels, [0.5], seed=1)[0] == a).all()


def test_search_splits(tmp_path):
    make_layout(tmp_path / "data", n_good=20, n_defect=10)
    splits = search_splits(config(tmp_path / "data"), seed=0)
    save_splits(tmp_path / "run", 0, splits)
    weight, arch = splits
    assert len(weight) == len(arch) == 15 and weight.labels.sum() == arch.labels.sum() == 5
    assert not set(weight.ids) & set(arch.ids)
    saved = json.loads((tmp_path / "run" / "splits.json").read_text())
    assert saved["ids"]["weight"] == weight.ids and saved["kind"] == "search"
    again, _ = search_splits(config(tmp_path / "data"), seed=0)
    assert again.ids == weight.ids


def test_train_splits_without_test_labels(tmp_path):
    make_layout(tmp_path / "data", n_good=40, n_defect=20, n_test=5)
    s = train_splits(config(tmp_path / "data"), seed=0)
    save_splits(tmp_path / "run", 0, s)
    assert (len(s.train), len(s.val), len(s.test)) == (48, 6, 6) and s.test.labels.sum() == 2
    assert "held-out 10% of train (test folder has no labels)" == s.test_source
    assert len(s.unlabelled) == 5 and (s.unlabelled.labels == -1).all()
    assert not set(s.train.ids) & set(s.val.ids) | set(s.train.ids) & set(s.test.ids)
    saved = json.loads((tmp_path / "run" / "splits.json").read_text())
    assert saved["test_source"] == s.test_source and saved["counts"]["unlabelled"] == 5
    save_splits(tmp_path / "run", 0, s)  # a resume that finds the same images
    other = train_splits(config(tmp_path / "data"), seed=1)
    with pytest.raises(UserError, match="differ from those of the run .*a resumed run needs the same data"):
        save_splits(tmp_path / "run", 1, other)


def test_train_splits_with_test_labels(tmp_path):
    make_layout(tmp_path / "data", n_good=40, n_defect=20, n_test=4)
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\nt0,1\nt1,0\nt2,0\nt3,1\n")
    s = train_splits(config(tmp_path / "data", labels_csv=str(labels)), seed=0)
    assert s.test_source == f"test folder with labels from {labels}" and s.unlabelled is None
    assert s.test.ids == ["t0", "t1", "t2", "t3"] and (len(s.train), len(s.val)) == (54, 6)


def test_drop_duplicates_before_splitting(tmp_path, caplog):
    make_layout(tmp_path, n_good=20, n_defect=10)
    for i in range(3):
        shutil.copy(tmp_path / "good" / f"g{i}.png", tmp_path / "good" / f"copy{i}.png")
    weight, arch = search_splits(config(tmp_path, drop_duplicates=True), seed=0)
    assert len(weight) + len(arch) == 30 and "dropping 3 duplicate" in caplog.text
    weight, arch = search_splits(config(tmp_path), seed=0)
    assert len(weight) + len(arch) == 33


def test_too_few_images_of_a_class(tmp_path):
    make_layout(tmp_path, n_good=5, n_defect=1)
    with pytest.raises(UserError, match="fewer than 2 readable defect"):
        search_splits(config(tmp_path), seed=0)
