"""Reading the three layouts and every kind of bad input."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
from test_data_util import config, make_layout, write_images

from darts_nexp.data import DataConfig, load_dataset, load_folder
from darts_nexp.data.layout import LAYOUTS
from darts_nexp.errors import UserError


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("ext,mode", [(".jpg", "L"), (".png", "RGB"), (".bmp", "L"), (".tif", "L")])
def test_layouts_and_formats(tmp_path, layout, ext, mode):
    make_layout(tmp_path, layout, ext=ext, mode=mode)
    ds = load_dataset(config(tmp_path))
    assert ds.layout.name == layout
    assert ds.train.images.shape == (18, 1, 16, 16) and ds.train.images.dtype == np.uint8
    assert (ds.train.labels == 0).sum() == 12 and (ds.train.labels == 1).sum() == 6
    assert len(ds.test) == 5 and (ds.test.labels == -1).all()
    assert ds.train.ids[:2] == ["g0", "g1"] and ds.train.ids[12] == "d0"


def test_three_channels_repeat_gray(tmp_path):
    make_layout(tmp_path)
    ds = load_dataset(config(tmp_path, channels=3))
    x = np.asarray(ds.train.images[:4])
    assert x.shape == (4, 3, 16, 16) and (x[:, 0] == x[:, 2]).all()


def test_crop_border_and_crop_mode(tmp_path):
    write_images(tmp_path / "good", 2, size=(40, 36))
    write_images(tmp_path / "defect", 2, size=(40, 36), prefix="d")
    (tmp_path / "defect_area.csv").write_text("id,x_1,y_1,x_2,y_2\nd0,10,12,20,30\n")
    ds = load_dataset(config(tmp_path, crop_border=4, resize="crop"))
    box = ds.train.boxes[ds.train.ids.index("d0")]
    # 40x36 less 4 px each side is 32x28; a centred 16x16 crop starts at (4+8, 4+6) = (12, 10) (y, x).
    assert box.tolist() == [0.0, 0.0, 10.0, 16.0]
    assert np.isnan(ds.train.boxes[ds.train.labels == 0]).all()


def test_a_crop_border_that_leaves_nothing_says_so(tmp_path):
    """The 40x36 images are sound: the fix is a smaller border, not other images."""
    make_layout(tmp_path)
    with pytest.raises(UserError, match="smaller than twice crop_border=20.*; pass a smaller --data.crop-border$"):
        load_dataset(config(tmp_path, crop_border=20))


def test_boxes_scaled_to_resized_image(tmp_path):
    write_images(tmp_path / "good", 2, size=(40, 32))
    write_images(tmp_path / "defect", 2, size=(40, 32), prefix="d")
    (tmp_path / "defect_area.csv").write_text("id,x_1,y_1,x_2,y_2\nd1,8,10,16,20\n")
    ds = load_dataset(config(tmp_path))
    assert ds.train.boxes[ds.train.ids.index("d1")].tolist() == [4.0, 4.0, 8.0, 8.0]


def test_missing_folder(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_dataset(config(tmp_path / "nope"))
    (tmp_path / "a.bmp").write_bytes(b"BM")
    with pytest.raises(UserError, match="a.bmp is a file, not a folder"):
        load_dataset(config(tmp_path / "a.bmp"))
    with pytest.raises(UserError, match="a.bmp is a file, not a folder"):
        load_folder(tmp_path / "a.bmp", config(tmp_path))


def test_unknown_layout_lists_the_three(tmp_path):
    write_images(tmp_path / "images", 3)
    with pytest.raises(UserError, match="stage1.*stage2.*plain"):
        load_dataset(config(tmp_path))


def test_half_a_layout_names_the_missing_folder(tmp_path):
    write_images(tmp_path / "train" / "good_0", 3)
    with pytest.raises(UserError, match="bad_1"):
        load_dataset(config(tmp_path))


def test_empty_class(tmp_path):
    write_images(tmp_path / "good", 3)
    (tmp_path / "defect").mkdir()
    with pytest.raises(UserError, match="defect holds no images"):
        load_dataset(config(tmp_path))


def test_unknown_extension_is_a_warning(tmp_path, caplog):
    make_layout(tmp_path)
    (tmp_path / "good" / "notes.txt").write_text("hello")
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(config(tmp_path))
    assert len(ds.train) == 18 and "1 file(s) with unknown extensions" in caplog.text and "notes.txt" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # with the size found from the images, which lists the folders twice
        load_dataset(DataConfig(dataset="nexperia", data_dir=str(tmp_path)))
    assert caplog.text.count("with unknown extensions") == 1


def test_unreadable_subfolders_and_dead_links_are_warned_about(tmp_path, caplog, monkeypatch):
    """Root reads every folder, so a denied listing is simulated where os.walk meets it: in os.scandir."""
    make_layout(tmp_path)
    write_images(tmp_path / "good" / "lot7", 3, prefix="L")
    (tmp_path / "defect" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    real = os.scandir

    def deny(name):
        def scandir(path):
            if Path(path).name == name:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)
        return scandir

    monkeypatch.setattr(os, "scandir", deny("lot7"))
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(config(tmp_path))
    assert len(ds.train) == 18  # lot7's 3 images are left out, and said to be
    assert "1 subfolder(s) of" in caplog.text and "lot7: Permission denied" in caplog.text
    assert "1 link(s) to nothing" in caplog.text and "gone.png" in caplog.text
    monkeypatch.setattr(os, "scandir", deny("defect"))  # a class folder that cannot be read is not "empty"
    with pytest.raises(UserError, match="cannot read the folder .*defect \\(Permission denied\\); make it readable"):
        load_dataset(config(tmp_path))


def test_corrupt_images_skipped_and_counted(tmp_path, caplog):
    make_layout(tmp_path)
    (tmp_path / "good" / "broken.jpg").write_bytes(b"not an image at all")
    (tmp_path / "defect" / "cut.png").write_bytes((tmp_path / "defect" / "d0.png").read_bytes()[:60])
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(config(tmp_path))
    assert len(ds.train) == 18 and len(ds.failed) == 2
    assert "skipped 2 unreadable image(s)" in caplog.text and "broken.jpg" in caplog.text


def test_mixed_sizes_note(tmp_path, caplog):
    make_layout(tmp_path, n_test=0)
    write_images(tmp_path / "good", 2, size=(50, 50), prefix="big")
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(config(tmp_path))
    assert ds.train.images.shape[1:] == (1, 16, 16) and "come in 2 sizes" in caplog.text


def test_boxes_for_unknown_ids_warn_with_counts(tmp_path, caplog):
    make_layout(tmp_path)
    (tmp_path / "defect_area.csv").write_text("id,x_1,y_1,x_2,y_2\nd0,1,1,5,5\nghost,1,1,2,2\nghost2,0,0,1,1\n")
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(config(tmp_path))
    assert "2 of 3 boxes" in caplog.text and "ghost" in caplog.text
    assert (~np.isnan(ds.train.boxes[:, 0])).sum() == 1


@pytest.mark.parametrize("text,match", [
    ("name,a,b\nd0,1,2\n", "must start with the header line id,x_1,y_1,x_2,y_2"),
    ("id,x_1,y_1,x_2,y_2\nd0,1,2\n", "line 2 has 3 column"),
    ("id,x_1,y_1,x_2,y_2\nd0,1,2,x,4\n", r"line 2 \(id d0\): box corners must be numbers"),
    ("", "empty file"),
])
def test_malformed_boxes_csv(tmp_path, text, match):
    make_layout(tmp_path)
    (tmp_path / "defect_area.csv").write_text(text)
    with pytest.raises(UserError, match=match) as e:
        load_dataset(config(tmp_path))
    assert "defect_area.csv" in str(e.value)


def test_labels_csv(tmp_path, caplog):
    make_layout(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\nt0,1\nt1,0\nt2,1\nt3,0\nstranger,1\n")
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(config(tmp_path, labels_csv=str(labels)))
    assert ds.test.labels.tolist() == [1, 0, 1, 0, -1]
    assert "1 of 5 labels" in caplog.text and "1 of 5 test images have no row" in caplog.text


@pytest.mark.parametrize("text,match", [("file,p\nt0,1\n", "header line id,label"),
                                        ("id,label\nt0,maybe\n", "label must be 0")])
def test_malformed_labels_csv(tmp_path, text, match):
    make_layout(tmp_path)
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(UserError, match=match):
        load_dataset(config(tmp_path, labels_csv=str(tmp_path / "labels.csv")))


def test_missing_labels_csv(tmp_path):
    make_layout(tmp_path)
    with pytest.raises(UserError, match="nope.csv not found"):
        load_dataset(config(tmp_path, labels_csv=str(tmp_path / "nope.csv")))


def test_load_folder_any_tree(tmp_path):
    write_images(tmp_path / "batch1" / "ok", 3, prefix="a")
    write_images(tmp_path / "batch1" / "NG", 2, prefix="b")
    write_images(tmp_path / "loose", 4, ext=".jpg", prefix="c")
    s = load_folder(tmp_path, config(tmp_path))
    assert len(s) == 9 and sorted(s.labels.tolist()) == [-1] * 4 + [0] * 3 + [1] * 2


def test_load_folder_of_a_layout_root(tmp_path):
    make_layout(tmp_path, "stage1")
    s = load_folder(tmp_path, config(tmp_path))
    assert len(s) == 23 and (s.labels == -1).sum() == 5


def test_load_folder_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_folder(tmp_path / "nope", config(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no images"):
        load_folder(tmp_path / "empty", config(tmp_path))


def test_labels_csv_without_test_folder(tmp_path):
    make_layout(tmp_path, "stage1", n_test=0)
    (tmp_path / "labels.csv").write_text("id,label\nt0,1\n")
    with pytest.raises(UserError, match="no test folder.*test/all_tests"):
        load_dataset(config(tmp_path, labels_csv=str(tmp_path / "labels.csv")))


def test_two_images_that_differ_only_in_extension_are_refused(tmp_path):
    """The id leaves the extension out, so good/g0.png and good/g0.bmp would share one even as paths."""
    make_layout(tmp_path, "plain", n_test=0)
    write_images(tmp_path / "good", 1, ext=".bmp", prefix="g")
    with pytest.raises(UserError, match=r"good/g0.bmp and .*good/g0.png differ only in their extension.*rename one"):
        load_dataset(config(tmp_path))
    with pytest.raises(UserError, match="differ only in their extension"):
        load_folder(tmp_path, config(tmp_path))


def test_a_test_image_may_share_a_training_image_id_and_scored_together_they_take_paths(tmp_path):
    make_layout(tmp_path, "plain")
    write_images(tmp_path / "test", 1, prefix="g")  # test/g0.png beside good/g0.png
    ds = load_dataset(config(tmp_path))
    assert "g0" in ds.train.ids and "g0" in ds.test.ids
    scored = load_folder(tmp_path, config(tmp_path))
    assert "good/g0" in scored.ids and "test/g0" in scored.ids and len(set(scored.ids)) == len(scored)
    assert "g0" in load_folder(tmp_path / "test", config(tmp_path)).ids
