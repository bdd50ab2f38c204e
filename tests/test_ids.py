"""Image ids: file names where they are unique within a set, paths under the data folder where they repeat (class
folders that number their files alike), and CSV files that name images either way."""
from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

from test_data_util import config, fails, make_layout, write_images

from darts_nexp.cli.data import main as data_main
from darts_nexp.cli.train import main as train
from darts_nexp.data import load_dataset, load_folder
from darts_nexp.evaluate import main as evaluate

ROOT = Path(__file__).resolve().parents[1]
NOTE = "file names repeat"


def clashing(root: Path) -> Path:
    """good/img 0-2 beside defect/img 0-3 (img 3 only in defect), and test/lotA/img 0-2 beside test/lotB/img 0-1
    (img 2 only in lotA): every set repeats a file name, as camera exports that number each folder alike do."""
    write_images(root / "good", 3, prefix="img ", seed=1)
    write_images(root / "defect", 4, prefix="img ", seed=2)
    write_images(root / "test" / "lotA", 3, prefix="img ", seed=3)
    write_images(root / "test" / "lotB", 2, prefix="img ", seed=4)
    return root


def notes(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if NOTE in r.getMessage()]


def summary(root: Path, *extra) -> list[str]:
    return [str(a) for a in ("summary", root, "--image-size", "16", "16", *extra)]


def test_repeated_file_names_make_path_ids_said_in_one_line(tmp_path, caplog):
    clashing(tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(config(tmp_path))
    assert ds.train.ids == ["good/img 0", "good/img 1", "good/img 2",
                            "defect/img 0", "defect/img 1", "defect/img 2", "defect/img 3"]
    assert ds.test.ids == ["test/lotA/img 0", "test/lotA/img 1", "test/lotA/img 2", "test/lotB/img 0",
                           "test/lotB/img 1"]
    said, = notes(caplog)
    assert "the training images and the test images" in said and "good/img 0 and defect/img 0" in said


def test_unique_file_names_stay_the_ids(tmp_path, caplog):
    """The Nexperia layouts: every CSV and the submission keep the contest's format."""
    make_layout(tmp_path, "stage2")
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(config(tmp_path))
    assert ds.train.ids[:2] == ["g0", "g1"] and ds.test.ids[0] == "t0" and not notes(caplog)
    assert ds.train.paths[0] == "train/train_contest/good_all/g0"


def test_only_the_set_whose_names_repeat_takes_paths(tmp_path, caplog):
    make_layout(tmp_path, "plain", n_test=0)
    write_images(tmp_path / "test" / "lotA", 2, prefix="img ")
    write_images(tmp_path / "test" / "lotB", 2, prefix="img ")
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(config(tmp_path))
    assert ds.train.ids[0] == "g0" and ds.test.ids[0] == "test/lotA/img 0"
    said, = notes(caplog)
    assert "among the test images of" in said


def test_boxes_and_labels_name_images_by_file_name_or_by_path(tmp_path):
    clashing(tmp_path)
    (tmp_path / "defect_area.csv").write_text("id,x_1,y_1,x_2,y_2\nimg 3,0,0,18,20\ndefect/img 1,0,0,36,40\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\ntest/lotA/img 0,1\nimg 2,0\ntest/lotB/img 1,1\n")
    ds = load_dataset(config(tmp_path, labels_csv=str(labels)))
    boxes = dict(zip(ds.train.ids, ds.train.boxes.tolist()))
    assert boxes["defect/img 3"] == [0, 0, 8, 8] and boxes["defect/img 1"] == [0, 0, 16, 16]
    assert sum(not math.isnan(b[0]) for b in boxes.values()) == 2
    assert dict(zip(ds.test.ids, ds.test.labels.tolist())) == {
        "test/lotA/img 0": 1, "test/lotA/img 1": -1, "test/lotA/img 2": 0, "test/lotB/img 0": -1,
        "test/lotB/img 1": 1}


def test_a_name_of_several_images_is_one_error_naming_them_all(tmp_path, capsys):
    clashing(tmp_path)
    boxes = tmp_path / "defect_area.csv"
    boxes.write_text("id,x_1,y_1,x_2,y_2\nimg 3,0,0,1,1\nimg 0,0,0,1,1\n")
    fails(capsys, data_main, summary(tmp_path), boxes, "line 3", "'img 0' names 2 images", "defect/img 0",
          "good/img 0", "write the path")
    boxes.unlink()
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\nimg 1,1\n")
    fails(capsys, data_main, summary(tmp_path, "--labels-csv", labels), labels, "line 2", "test/lotA/img 1",
          "test/lotB/img 1")


def test_two_rows_that_name_one_image_are_refused(tmp_path, capsys):
    clashing(tmp_path)
    boxes = tmp_path / "defect_area.csv"
    boxes.write_text("id,x_1,y_1,x_2,y_2\nimg 3,0,0,1,1\ndefect/img 3,0,0,1,1\n")
    fails(capsys, data_main, summary(tmp_path), boxes, "lines 2 and 3 both name the image defect/img 3",
          "one row per image")


def test_a_scored_folder_names_images_by_their_path_under_it(tmp_path, caplog):
    clashing(tmp_path)
    with caplog.at_level(logging.WARNING):
        scored = load_folder(tmp_path / "test", config(tmp_path))
    assert scored.ids == ["lotA/img 0", "lotA/img 1", "lotA/img 2", "lotB/img 0", "lotB/img 1"]
    assert len(notes(caplog)) == 1


def csv_ids(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return [row["id"] for row in csv.DictReader(f)]


def test_train_and_evaluate_on_class_folders_that_number_files_alike(tmp_path, caplog, capsys):
    """The real commands on lots that restart their numbering: splits.json, predictions.csv and submission.csv
    name images by path, and evaluate takes labels by path."""
    data = tmp_path / "data"
    for folder, n in (("good", 10), ("defect", 5), ("test", 2)):
        for lot in ("lotA", "lotB"):
            write_images(data / folder / lot, n, prefix="img ", seed=len(folder) + len(lot))
    paths = {str(p.relative_to(data).with_suffix("").as_posix()) for p in data.rglob("*.png")}
    with caplog.at_level(logging.WARNING):
        run = train(["--config", str(ROOT / "configs" / "smoke.yaml"), "--genotype",
                     str(ROOT / "genotypes" / "darts_v1.yaml"), "--dataset", "nexperia", "--data-dir", str(data),
                     "--out", str(tmp_path / "run"), "--epochs", "1", "--layers", "2", "--progress", "false"])
    assert len(notes(caplog)) == 1
    predicted = csv_ids(run.run_dir / "predictions.csv")
    assert predicted and set(predicted) <= paths and all(i.startswith(("good/", "defect/")) for i in predicted)
    assert csv_ids(run.run_dir / "submission.csv") == ["test/lotA/img 0", "test/lotA/img 1", "test/lotB/img 0",
                                                       "test/lotB/img 1"]
    splits = json.loads((run.run_dir / "splits.json").read_text())["ids"]
    assert set(splits["train"]) <= paths and splits["test"] == predicted

    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\nlotA/img 0,1\nlotA/img 1,0\nlotB/img 0,0\nlotB/img 1,1\n")
    result = evaluate([str(run.run_dir), "--data-dir", str(data / "test"), "--labels-csv", str(labels),
                       "--out", str(tmp_path / "scored")])
    assert result["metrics"]["n_images"] == 4
    assert csv_ids(tmp_path / "scored" / "predictions.csv") == ["lotA/img 0", "lotA/img 1", "lotB/img 0",
                                                                "lotB/img 1"]
    labels.write_text("id,label\nimg 0,1\n")
    fails(capsys, evaluate, [run.run_dir, "--data-dir", data / "test", "--labels-csv", labels, "--out",
                             tmp_path / "again"], labels, "'img 0' names 2 images", "lotA/img 0", "lotB/img 0")
