"""The decoded-image cache: reused when nothing changed, rebuilt when the folder changed, safe to interrupt."""
from __future__ import annotations

import numpy as np
import pytest
from test_data_util import config, make_layout, write_images

from darts_nexp.data import cache, load_dataset


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
    from PIL import Image

    write_images(tmp_path / "good", 2, size=(16, 16))
    write_images(tmp_path / "defect", 2, size=(16, 16), prefix="d")
    ds = load_dataset(config(tmp_path))
    assert (ds.train.images[0, 0] == np.asarray(Image.open(tmp_path / "good" / "img0.png"))).all()


def test_unwritable_cache_dir(tmp_path):
    make_layout(tmp_path / "data")
    (tmp_path / "file").write_text("x")
    from darts_nexp.errors import UserError

    with pytest.raises(UserError, match="writable --data.cache-dir"):
        load_dataset(config(tmp_path / "data", cache_dir=str(tmp_path / "file" / "sub")))
