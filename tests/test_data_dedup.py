"""Exact and near duplicates, their report, and the summary command."""
from __future__ import annotations

import shutil

import numpy as np
from test_data_util import make_layout

from darts_nexp.data import SyntheticConfig
from darts_nexp.cli.data import main
from darts_nexp.data.dedup import duplicate_groups, phash
from darts_nexp.data.synthetic import generate


def test_near_copies_found_distinct_images_not():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 200, (6, 1, 32, 32)).astype(np.uint8)
    near = np.clip(base[:2].astype(int) + rng.integers(-1, 2, base[:2].shape) + 5, 0, 255).astype(np.uint8)
    images = np.concatenate([base, near])
    groups = duplicate_groups([""] * 8, images)
    assert sorted(groups) == [[0, 6], [1, 7]]
    assert phash(images).shape == (8, 4)


def test_exact_copies_by_digest():
    images = np.random.default_rng(0).integers(0, 256, (4, 1, 16, 16)).astype(np.uint8)
    assert duplicate_groups(["a", "b", "a", "c"], images) == [[0, 2]]


def test_summary_cli(tmp_path, capsys):
    make_layout(tmp_path, "stage2", ext=".bmp")
    shutil.copy(tmp_path / "train/train_contest/good_all/g0.bmp", tmp_path / "test/test_contest/test/same.bmp")
    (tmp_path / "train/train_contest/defect/bad.bmp").write_bytes(b"BM garbage")
    (tmp_path / "defect_area.csv").write_text("id,x_1,y_1,x_2,y_2\nd0,1,1,5,5\n")
    main(["summary", str(tmp_path)])
    out = capsys.readouterr().out
    assert "layout: stage2" in out and "12 good" in out and "6 defect" in out
    assert "image sizes (HxW): 40x36: 24" in out and "1 of 6 defect images have one" in out
    assert "1 group(s)" in out and "across test/train: 1" in out
    assert "unreadable files: 1" in out and "bad.bmp" in out


def test_summary_finds_planted_synthetic_duplicates(tmp_path, capsys):
    generate(SyntheticConfig(n_train=80, n_test=20, size=[64, 64], duplicate_rate=0.05), tmp_path, progress=False)
    main(["summary", str(tmp_path), "--labels-csv", str(tmp_path / "test_labels.csv")])
    assert "duplicates: 4 group(s), 5 redundant" in capsys.readouterr().out


def test_summary_bad_input_exits_with_one_line(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as e:
        main(["summary", str(tmp_path / "missing")])
    assert e.value.code == 2 and "not found" in capsys.readouterr().err
