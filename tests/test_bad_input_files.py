"""Bad input files end in one `error:` line naming the file and the fix (exit status 2), never a traceback.

Drives the real commands in-process: `python -m darts_nexp.data summary` (images, defect_area.csv, labels CSV) and
`python -m darts_nexp.render` (genotype files); `load_folder` (behind `python -m darts_nexp.evaluate`) directly.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_data_util import config, fails, make_layout, write_images

import darts_nexp.cli.render as render
from darts_nexp.data import load_dataset, load_folder
from darts_nexp.cli.train import main as train_main
from darts_nexp.cli.data import main as data_main
from darts_nexp.errors import UserError
from darts_nexp.cli.sample import main as sample_main

BOX_HEADER = "id,x_1,y_1,x_2,y_2\n"
EDGES = "[[sep_conv_3x3, 0], [sep_conv_3x3, 1]]"
REDUCE = "[[max_pool_3x3, 0], [max_pool_3x3, 1]]"
GOOD_GENOTYPE = f"normal: {EDGES}\nreduce: {REDUCE}\n"


def summary(root: Path, *extra) -> list[str]:
    return [str(a) for a in ("summary", root, "--image-size", "16", "16", *extra)]


# --- images -------------------------------------------------------------------------------------------------------

def tiff_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "TIFF")
    return buf.getvalue()


def test_summary_reads_16_bit_png_and_tiff_datasets(tmp_path, capsys):
    """A dataset of 16-bit images: all readable, and not all white."""
    rng = np.random.default_rng(0)
    for folder, ext in (("good", ".png"), ("defect", ".tif"), ("test", ".tiff")):
        (tmp_path / folder).mkdir()
        for i in range(3):
            pixels = rng.integers(0, 65536, (16, 16), dtype=np.uint16)
            Image.fromarray(pixels).save(tmp_path / folder / f"{folder}{i}{ext}")
    data_main(summary(tmp_path))
    out = capsys.readouterr().out
    assert "train: 6 images: 3 good" in out and "test: 3 images" in out and "unreadable files: 0" in out
    ds = load_dataset(config(tmp_path))
    assert 100 < ds.train.images[:].mean() < 155  # uniform 16-bit noise scaled to 8 bits (clipping gave 255)


@pytest.mark.parametrize("array,reason", [
    (np.full((16, 16), 1_000_000, dtype=np.int32), "do not fit 16 bits"),
    (np.full((16, 16), -5, dtype=np.int32), "do not fit 16 bits"),
    (np.linspace(-1, 2, 256, dtype=np.float32).reshape(16, 16), "fit neither 0..1 nor 0..255"),
    (np.full((16, 16), np.nan, dtype=np.float32), "NaN or infinity"),
])
def test_images_that_cannot_be_scaled_are_listed_unreadable(tmp_path, capsys, array, reason):
    make_layout(tmp_path, n_test=0)
    (tmp_path / "good" / "wide.tif").write_bytes(tiff_bytes(array))
    data_main(summary(tmp_path))
    out = capsys.readouterr().out
    assert "train: 18 images" in out and "unreadable files: 1" in out
    line = next(line for line in out.splitlines() if "wide.tif" in line)
    assert reason in line and "save the image as 8- or 16-bit" in line


def test_class_with_no_readable_image(tmp_path, capsys):
    make_layout(tmp_path)
    for p in (tmp_path / "defect").iterdir():
        p.write_bytes(b"not an image")
    line = fails(capsys, data_main, summary(tmp_path), tmp_path / "defect", "defect/d0.png",
                 "not an image PIL can read", "replace them with readable images")
    assert "none of the 6 image file(s)" in line


def test_test_folder_with_no_readable_image(tmp_path, capsys):
    make_layout(tmp_path)
    for p in (tmp_path / "test").iterdir():
        p.write_bytes(p.read_bytes()[:40])  # truncated
    fails(capsys, data_main, summary(tmp_path), tmp_path / "test", "test/t0.png")


def test_load_folder_with_no_readable_image(tmp_path):
    write_images(tmp_path / "new" / "ok", 2)
    (tmp_path / "new" / "loose.jpg").write_bytes(b"\xff\xd8 cut short")
    for p in (tmp_path / "new" / "ok").iterdir():
        p.write_bytes(b"")
    with pytest.raises(UserError, match="none of the 3 image file") as e:
        load_folder(tmp_path / "new", config(tmp_path / "new"))
    assert str(tmp_path / "new") in str(e.value) and "loose.jpg" in str(e.value)


def test_load_folder_of_a_layout_root_with_an_unreadable_class(tmp_path):
    make_layout(tmp_path)
    for p in (tmp_path / "good").iterdir():
        p.write_bytes(b"junk")
    with pytest.raises(UserError, match="none of the 12 image file"):
        load_folder(tmp_path, config(tmp_path))


# --- defect_area.csv ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rows,names", [
    ("d0,1,2,10,12\nd1,10,2,5,12\n", ["line 3", "id d1", "x_2 < x_1", "top-left corner"]),
    ("d0,1,20,10,12\n", ["line 2", "id d0", "y_2 < y_1"]),
    ("d0,1,2,10,12\n\nd1,-1,2,10,12\n", ["line 4", "id d1", "must be >= 0"]),  # blank lines are counted
    ("d0,nan,2,10,12\n", ["line 2", "id d0", "finite numbers", "nan"]),
    ("d0,1,2,inf,12\n", ["line 2", "id d0", "finite numbers"]),
    ("d0,1,2,1e999,12\n", ["line 2", "id d0", "finite numbers"]),
    ("d0,1,2,x,4\n", ["line 2", "id d0", "must be numbers"]),
    ("d0,1,2,10,12\nd2,0,0,1,1\nd0,3,3,5,5\n", ["line 4", "'d0' appears again (first on line 2)", "one row per image"]),
    (",1,2,10,12\n", ["line 2", "empty id"]),
    ("d0,1,2,37,12\n", ["line 2", "id d0", "outside its 40x36 (HxW) image", "x in 0..36, y in 0..40"]),
    ("d0,1,2,10,41\n", ["line 2", "id d0", "outside its 40x36 (HxW) image"]),
])
def test_bad_boxes(tmp_path, capsys, rows, names):
    make_layout(tmp_path)  # 40x36 (HxW) images
    csv = tmp_path / "defect_area.csv"
    csv.write_text(BOX_HEADER + rows)
    fails(capsys, data_main, summary(tmp_path), csv, *names)


def test_boxes_on_the_image_edge_are_accepted(tmp_path, capsys):
    make_layout(tmp_path)
    (tmp_path / "defect_area.csv").write_text(BOX_HEADER + "d0,0,0,36,40\nd1,3,3,3,3\n")
    data_main(summary(tmp_path))
    assert "boxes: 2 of 6 defect images have one" in capsys.readouterr().out


LATIN1 = {"defect_area.csv": BOX_HEADER + "d0,1,1,2,2\ncaf\xe9,1,1,2,2\n", "labels.csv": "id,label\nt0,1\ncaf\xe9,1\n"}


@pytest.mark.parametrize("name", ["defect_area.csv", "labels.csv"])
@pytest.mark.parametrize("content,names", [
    ("latin-1", ["is not UTF-8 text", "byte 0xe9 on line 3", "saved as UTF-8"]),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["is not UTF-8 text", "byte 0x89 on line 1"]),
    (b"id,label\n\x00\x01\x02\n", ["is not a text file", "NUL byte on line 2"]),
    (b"", ["empty file"]),
])
def test_csv_that_is_not_utf8_text(tmp_path, capsys, name, content, names):
    make_layout(tmp_path)
    csv = tmp_path / name
    csv.write_bytes(LATIN1[name].encode("latin-1") if content == "latin-1" else content)
    extra = ["--labels-csv", csv] if name == "labels.csv" else []
    fails(capsys, data_main, summary(tmp_path, *extra), csv, *names)


def test_csv_with_a_byte_order_mark_is_read(tmp_path, capsys):
    make_layout(tmp_path)
    (tmp_path / "defect_area.csv").write_bytes(("\ufeff" + BOX_HEADER + "d0,1,1,5,5\n").encode())
    (tmp_path / "labels.csv").write_bytes("\ufeffid,label\nt0,1\nt1,good\n".encode())
    data_main(summary(tmp_path, "--labels-csv", tmp_path / "labels.csv"))
    out = capsys.readouterr().out
    assert "boxes: 1 of 6" in out and "1 good, 1 defect, 3 without a label" in out


# --- labels CSV ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rows,names", [
    ("t0,1\nt1,0\nt0,1\n", ["line 4", "'t0' appears again (first on line 2)"]),
    ("t0,nan\n", ["line 2", "id t0", "label must be 0 (good) or 1 (defect)", "'nan'"]),
    ("t0,1\n\n\nt1,2\n", ["line 5", "id t1", "got '2'"]),
    ("t0\n", ["line 2 has 1 column"]),
    (" ,1\n", ["line 2 has an empty id"]),
])
def test_bad_labels(tmp_path, capsys, rows, names):
    make_layout(tmp_path)
    csv = tmp_path / "labels.csv"
    csv.write_text("id,label\n" + rows)
    fails(capsys, data_main, summary(tmp_path, "--labels-csv", csv), csv, *names)


def test_labels_csv_that_is_a_folder(tmp_path, capsys):
    make_layout(tmp_path)
    (tmp_path / "labels").mkdir()
    fails(capsys, data_main, summary(tmp_path, "--labels-csv", tmp_path / "labels"), tmp_path / "labels",
          "is a folder, not a CSV file")


def deny_reading(monkeypatch, path: Path) -> None:
    """Make `path` unreadable the way a permission error would; chmod does not stop root, who runs CI."""
    real = Path.read_bytes

    def denied(self):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)


def test_unreadable_labels_csv(tmp_path, capsys, monkeypatch):
    make_layout(tmp_path)
    csv = tmp_path / "labels.csv"
    csv.write_text("id,label\nt0,1\n")
    deny_reading(monkeypatch, csv)
    fails(capsys, data_main, summary(tmp_path, "--labels-csv", csv), csv, "cannot read", "Permission denied")


# --- genotype files -----------------------------------------------------------------------------------------------

def test_a_genotype_no_network_can_be_built_from_names_its_file(tmp_path, capsys):
    """Valid as a file (render draws it), but the final network needs cells with equally many outputs."""
    path = tmp_path / "uneven.yaml"
    path.write_text(f"normal: {EDGES}\nnormal_concat: [0, 1]\nreduce: {REDUCE}\n")
    for command, argv in ((sample_main, ["--like", path, "--out", tmp_path / "s"]),
                          (train_main, ["--genotype", path, "--out", tmp_path / "t", "--device", "cpu"])):
        fails(capsys, command, argv, f"error: {path}: normal_concat and reduce_concat list different numbers")
    assert not (tmp_path / "s").exists() and not (tmp_path / "t").exists()


@pytest.mark.parametrize("text,names", [
    (GOOD_GENOTYPE + "normal_concat: 5\n", ["'normal_concat' must be a list of node indices", "found a number 5"]),
    (GOOD_GENOTYPE + "reduce_concat: abc\n", ["'reduce_concat' must be a list", "found text 'abc'"]),
    (GOOD_GENOTYPE + "normal_concat: [true, 2]\n", ["normal_concat [True, 2] must list node indices"]),
    (GOOD_GENOTYPE + "meta: text\n", ["'meta' must be a mapping", "found text 'text'"]),
    (GOOD_GENOTYPE + "meta: [1, 2]\n", ["'meta' must be a mapping", "found a list [1, 2]"]),
    (GOOD_GENOTYPE + "name: [1]\n", ["'name' must be text", "found a list [1]"]),
    (f"normal: ['sep_conv_3x3 0', [sep_conv_3x3, 1]]\nreduce: {REDUCE}\n",
     ["normal edge 0 is 'sep_conv_3x3 0'", "write each edge as [operation, input]"]),
    (f"normal: {EDGES}\nreduce: [[max_pool_3x3, 1.0], [max_pool_3x3, 1]]\n",
     ["reduce edge 0 (node 2) takes input 1.0, which is not a whole number", "0..1"]),
    (f"normal: [[sep_conv_3x3, '0'], [sep_conv_3x3, 1]]\nreduce: {REDUCE}\n",
     ["normal edge 0 (node 2) takes input '0', which is not a whole number"]),
    (f"normal: [[[sep_conv_3x3], 0], [sep_conv_3x3, 1]]\nreduce: {REDUCE}\n", ["unknown operation ['sep_conv_3x3']"]),
    (f"normal:\nreduce: {REDUCE}\n", ["'normal' must be a list of [operation, input] pairs (found nothing)"]),
    (GOOD_GENOTYPE + "1: 2\nextra: 3\n", ["unknown key(s) 1, extra"]),
    (GOOD_GENOTYPE + f"normal: {EDGES}\n", ["key 'normal' given twice at line 3"]),
    ("", ["is empty"]),
    ("# only a comment\n", ["is empty"]),
    ("- normal\n- reduce\n", ["expected a mapping", "found a list"]),
    ("normal: [sep_conv_3x3, 0\n", ["not valid YAML", "line 2"]),
    (GOOD_GENOTYPE + "---\nname: b\n", ["not valid YAML", "another document"]),
    ("normal: \x00\n", ["not valid YAML", "'\\x00' is not allowed", "line 1"]),
    ("!!python/object:os.system {}\n", ["not valid YAML", "python/object"]),
    (f"name: caf\xe9\n{GOOD_GENOTYPE}".encode("latin-1"),
     ["is not UTF-8 text (byte 0xe9 on line 1)", "save the genotype file as UTF-8"]),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["is not UTF-8 text (byte 0x89 on line 1)"]),
    (GOOD_GENOTYPE.encode("utf-16"), ["is not UTF-8 text"]),
])
def test_bad_genotype_file(tmp_path, capsys, text, names):
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    fails(capsys, render.main, [path, "--out", tmp_path / "out"], f"error: {path}", *names)
    assert not (tmp_path / "out").exists()


def test_genotype_path_that_is_a_folder(tmp_path, capsys):
    fails(capsys, render.main, [tmp_path, "--out", tmp_path / "out"], tmp_path, "is a folder, not a genotype file")


def test_unreadable_genotype_file(tmp_path, capsys, monkeypatch):
    path = tmp_path / "g.yaml"
    path.write_text(GOOD_GENOTYPE)
    deny_reading(monkeypatch, path)
    fails(capsys, render.main, [path, "--out", tmp_path / "out"], path, "cannot read", "Permission denied")


def test_genotype_edge_cases_that_load(tmp_path):
    from darts_nexp.space import Genotype

    path = tmp_path / "g.yaml"
    path.write_bytes(("\ufeff" + GOOD_GENOTYPE + "normal_concat:\nname:\nmeta:\n").encode())  # BOM, nulls
    g = Genotype.load(path)
    assert g.normal_concat == (2,) and g.name == "" and g.meta == {}

