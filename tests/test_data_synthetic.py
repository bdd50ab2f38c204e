"""The synthetic generator: layout, side files, determinism, and regeneration when its parameters change."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from darts_nexp.data import DataConfig, SyntheticConfig, load_dataset
from darts_nexp.cli.data import main
from darts_nexp.data.synthetic import GOOD_DIR, DEFECT_DIR, TEST_DIR, ensure, generate
from darts_nexp.errors import UserError

SMALL = dict(n_train=60, n_test=20, size=[48, 52], duplicate_rate=0.05, label_noise=0.05)


def _rows(path):
    with open(path) as f:
        return list(csv.reader(f))


def test_layout_and_side_files(tmp_path):
    generate(SyntheticConfig(**SMALL), tmp_path, progress=False)
    good, defect = list((tmp_path / GOOD_DIR).glob("*.bmp")), list((tmp_path / DEFECT_DIR).glob("*.bmp"))
    test = list((tmp_path / TEST_DIR).glob("*.bmp"))
    assert len(good) + len(defect) == 60 and len(test) == 20 and 3 <= len(defect) <= 25
    boxes = _rows(tmp_path / "defect_area.csv")
    assert boxes[0] == ["id", "x_1", "y_1", "x_2", "y_2"] and len(boxes) - 1 <= len(defect)
    assert {r[0] for r in boxes[1:]} <= {p.stem for p in defect}
    labels = _rows(tmp_path / "test_labels.csv")
    assert labels[0] == ["id", "label"] and {r[0] for r in labels[1:]} == {p.stem for p in test}
    assert json.loads((tmp_path / "synthetic.json").read_text())["complete"] is True


def test_deterministic_by_seed(tmp_path):
    generate(SyntheticConfig(**SMALL), tmp_path / "a", progress=False)
    generate(SyntheticConfig(**SMALL), tmp_path / "b", progress=False)
    generate(SyntheticConfig(**{**SMALL, "seed": 1}), tmp_path / "c", progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.bmp"))
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert (tmp_path / "a" / "defect_area.csv").read_text() == (tmp_path / "b" / "defect_area.csv").read_text()
    assert not (tmp_path / "c" / files[0]).exists()


def test_dataset_synthetic_generates_and_regenerates(tmp_path):
    cfg = DataConfig(data_dir=str(tmp_path / "syn"), image_size=[24, 24], synthetic=SyntheticConfig(**SMALL))
    ds = load_dataset(cfg)
    assert len(ds.train) == 60 and len(ds.test) == 20 and set(ds.test.labels.tolist()) == {0, 1}
    assert (~np.isnan(ds.train.boxes[:, 0])).sum() > 0
    stamp = (tmp_path / "syn" / "synthetic.json").stat().st_mtime_ns
    ensure(cfg.synthetic, tmp_path / "syn")
    assert (tmp_path / "syn" / "synthetic.json").stat().st_mtime_ns == stamp  # same parameters: kept
    cfg.synthetic.n_train = 40
    assert len(load_dataset(cfg).train) == 40


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(UserError, match="holds no synthetic set"):
        generate(SyntheticConfig(**SMALL), tmp_path, progress=False)


def test_cli(tmp_path, capsys):
    main(["synthetic", "--out", str(tmp_path), "--n-train", "20", "--n-test", "5", "--size", "40", "44", "--seed", "3"])
    assert "wrote 20 train and 5 test images" in capsys.readouterr().out
    assert len(list(tmp_path.rglob("*.bmp"))) == 25
    with pytest.raises(SystemExit):
        main(["synthetic", "--out", str(tmp_path), "--size", "big"])


def test_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="pass another --data-dir"):
        load_dataset(DataConfig(data_dir=str(tmp_path / "f"), synthetic=SyntheticConfig(**SMALL)))


def test_a_complete_set_is_read_without_writing_anything(tmp_path):
    """A complete set needs no lock to be read, so a read-only copy of it works (root ignores chmod, so the lock
    file is made impossible to open instead)."""
    cfg = SyntheticConfig(n_train=8, n_test=0, size=[32, 32])
    out = ensure(cfg, tmp_path / "syn")
    (out / ".lock").unlink()
    (out / ".lock").mkdir()  # open(".lock", "w") would now fail
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*"))
    assert ensure(cfg, out) == out
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*")) == before
