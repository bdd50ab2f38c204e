"""The decoded-image cache: reused when nothing changed, rebuilt when the folder changed, safe to interrupt."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from test_data_util import config, make_layout, write_images

from darts_nexp.data import DataConfig, cache, load_dataset, load_folder


def _npys(root):
    return sorted(p.name for p in (root / ".cache").glob("*.npy"))


def test_reused_then_rebuilt_when_folder_changes(tmp_path):
    make_layout(tmp_path)
    first = load_dataset(config(tmp_path))
    assert isinstance(first.train.images, np.memmap) or isinstance(first.train.images.base, np.memmap)
    assert len(_npys(tmp_path)) == 1
    load_dataset(config(tmp_path))
    assert len(_npys(tmp_path)) == 1  # nothing changed: same cache
    write_images(tmp_path / "good", 1, prefix="new")
    again = load_dataset(config(tmp_path))
    assert len(_npys(tmp_path)) == 2 and len(again.train) == len(first.train) + 1


def test_size_options_key_the_cache(tmp_path):
    make_layout(tmp_path)
    load_dataset(config(tmp_path))
    load_dataset(config(tmp_path, crop_border=2))
    assert len(_npys(tmp_path)) == 2


def test_cache_dir_option(tmp_path):
    make_layout(tmp_path / "data")
    load_dataset(config(tmp_path / "data", cache_dir=str(tmp_path / "elsewhere")))
    assert len(list((tmp_path / "elsewhere").glob("*.npy"))) == 1 and not (tmp_path / "data" / ".cache").exists()


def test_interrupted_build_leaves_no_cache_and_restarts(tmp_path, monkeypatch):
    make_layout(tmp_path)
    real, calls = cache.decode, []

    def dying(data, cfg):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(data, cfg)

    monkeypatch.setattr(cache, "decode", dying)
    with pytest.raises(KeyboardInterrupt):
        load_dataset(config(tmp_path))
    assert list((tmp_path / ".cache").iterdir()) == []  # no half-built cache, no temp files
    monkeypatch.setattr(cache, "decode", real)
    ds = load_dataset(config(tmp_path))
    assert len(ds.train) == 18 and ds.train.images[:].any()


def test_decoded_pixels_match_pil(tmp_path):
    write_images(tmp_path / "good", 2, size=(16, 16))
    write_images(tmp_path / "defect", 2, size=(16, 16), prefix="d")
    ds = load_dataset(config(tmp_path))
    assert (ds.train.images[0, 0] == np.asarray(Image.open(tmp_path / "good" / "img0.png"))).all()


def test_unwritable_cache_dir(tmp_path):
    make_layout(tmp_path / "data")
    (tmp_path / "file").write_text("x")
    from darts_nexp.errors import UserError

    with pytest.raises(UserError, match="writable folder to --cache-dir"):
        load_dataset(config(tmp_path / "data", cache_dir=str(tmp_path / "file" / "sub")))


def test_cache_version_keys_the_cache(tmp_path, monkeypatch):
    """A decoder change bumps cache.VERSION, so caches of the old decoder are not reused."""
    make_layout(tmp_path)
    monkeypatch.setattr(cache, "VERSION", cache.VERSION - 1)
    load_dataset(config(tmp_path))
    monkeypatch.undo()
    load_dataset(config(tmp_path))
    assert len(_npys(tmp_path)) == 2


# --- decoding: 16-bit and float images are scaled to 0..255, 8-bit ones are as before -----------------------------

V16 = np.linspace(0, 65535, 256).round().astype(np.uint16).reshape(16, 16)  # a gradient, not only multiples of 257
V8 = np.rint(V16 / 257).astype(np.uint8)  # what the pipeline must see: 65535 -> 255


def _saved(image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def _png16_rgb(rgb: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (PIL cannot write one)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


HIGH_DEPTH = {
    "png I;16": lambda: _saved(Image.fromarray(V16), "PNG"),
    "tiff I;16": lambda: _saved(Image.fromarray(V16), "TIFF"),
    "tiff I;16 lzw": lambda: _saved(Image.fromarray(V16), "TIFF", compression="tiff_lzw"),
    "tiff I;16 deflate": lambda: _saved(Image.fromarray(V16), "TIFF", compression="tiff_deflate"),
    "tiff I;16B": lambda: _saved(Image.frombytes("I;16B", (16, 16), V16.astype(">u2").tobytes()), "TIFF"),
    "tiff I (int32)": lambda: _saved(Image.fromarray(V16.astype(np.int32)), "TIFF"),
    "tiff F 0..1": lambda: _saved(Image.fromarray((V16 / 65535).astype(np.float32)), "TIFF"),
    "tiff F 0..255": lambda: _saved(Image.fromarray((V16 / 257).astype(np.float32)), "TIFF"),
}


@pytest.mark.parametrize("kind", list(HIGH_DEPTH))
def test_high_bit_depth_images_are_scaled_not_clipped(kind):
    data = HIGH_DEPTH[kind]()
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode in ("I;16", "I;16B", "I", "F")  # the file really is high bit depth
    x, size = cache.decode(data, DataConfig(image_size=[16, 16]))
    assert size == (16, 16) and x.dtype == np.uint8
    assert (x == V8).all(), (x[:2], V8[:2])


def test_16_bit_rgb_png_is_read_to_within_one_level():
    gray, _ = cache.decode(_png16_rgb(np.stack([V16] * 3, -1)), DataConfig(image_size=[16, 16]))
    assert np.abs(gray.astype(int) - V8).max() <= 1  # PIL keeps the high byte of each channel
    red, _ = cache.decode(_png16_rgb(np.stack([V16, 0 * V16, 0 * V16], -1)), DataConfig(image_size=[16, 16]))
    assert np.abs(red - 0.299 * V16 / 257).max() <= 1.5


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "1"])
def test_8_bit_images_decode_as_before(mode):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    source = Image.fromarray(rgb).convert(mode)
    expected = np.asarray(source.convert("L"))
    if mode == "P":  # a gray palette: the palette index maps to its gray level
        source = Image.fromarray(rgb[..., 0] // 2).convert("P")
        source.putpalette([v for i in range(256) for v in (255 - i,) * 3])
        expected = 255 - rgb[..., 0] // 2
    if mode == "1":
        assert set(np.unique(expected)) <= {0, 255}
    x, _ = cache.decode(_saved(source, "PNG"), DataConfig(image_size=[16, 16]))
    assert (x == expected).all()


def test_tiff_files_are_listed_and_read(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    Image.fromarray(V16).save(folder / "a.tif")
    Image.fromarray(V16[::-1]).save(folder / "b.TIFF")
    s = load_folder(folder, config(folder))
    assert s.ids == ["a", "b"]
    assert (s.images[0, 0] == V8).all() and (s.images[1, 0] == V8[::-1]).all()


def test_decoder_errors_without_a_message_are_listed(tmp_path, monkeypatch):
    make_layout(tmp_path)
    real = cache.decode

    def eof_on_g1(data, cfg):
        if data == (tmp_path / "good" / "g1.png").read_bytes():
            raise EOFError()  # PIL raises some of these on damaged files, with no message
        return real(data, cfg)

    monkeypatch.setattr(cache, "decode", eof_on_g1)
    ds = load_dataset(config(tmp_path))
    assert ds.failed == [["good/g1.png", "EOFError"]] and len(ds.train) == 17


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF"])  # Pillow turns a TIFF upright itself, while loading it
def test_exif_orientation_is_applied(tmp_path, fmt):
    """A camera that stores the pixels turned and says so in EXIF: the image and its size are read upright."""
    upright = np.zeros((24, 40), np.uint8)  # H x W
    upright[:8, :8] = 255  # a bright top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view": the stored pixels are the upright ones turned back
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    data = _saved(stored, fmt, exif=exif.tobytes(), **({"quality": 100} if fmt == "JPEG" else {}))
    x, size = cache.decode(data, DataConfig(image_size=[24, 40]))
    assert size == (24, 40) and x.shape == (24, 40)
    assert x[:8, :8].mean() > 200 and x[16:, 32:].mean() < 50
    write_images(tmp_path / "good", 2, size=(24, 40))
    (tmp_path / "defect").mkdir()
    ext = {"JPEG": "jpg", "PNG": "png", "TIFF": "tif"}[fmt]
    for i in range(3):  # more turned than upright files: the automatic size must be the upright one
        (tmp_path / "defect" / f"d{i}.{ext}").write_bytes(data)
    # A box on the upright image (x up to 40, y up to 24) is within it; on the stored one it would not be.
    (tmp_path / "defect_area.csv").write_text("id,x_1,y_1,x_2,y_2\nd0,0,0,40,8\n")
    ds = load_dataset(DataConfig(dataset="nexperia", data_dir=str(tmp_path)))
    assert ds.sizes == {"24x40": 5} and ds.train.images.shape[2:] == (24, 40)
