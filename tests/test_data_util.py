"""Helpers for the tests: tiny image folders in each layout, the check of a refused command, and the loading of a
benchmark script (no tests here)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from darts_nexp.data import DataConfig
from darts_nexp.data.layout import LAYOUTS


def write_images(folder: Path, n: int, ext: str = ".png", size=(40, 36), mode: str = "L", seed: int = 0,
                 prefix: str = "img") -> list[str]:
    """Write n random images; returns their ids."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = []
    for i in range(n):
        shape = (size[0], size[1], 3) if mode == "RGB" else size
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(folder / f"{prefix}{i}{ext}")
        ids.append(f"{prefix}{i}")
    return ids


def make_layout(root: Path, layout: str = "plain", n_good: int = 12, n_defect: int = 6, n_test: int = 5,
                ext: str = ".png", mode: str = "L") -> Path:
    good, defect, test = LAYOUTS[layout]
    write_images(root / good, n_good, ext, mode=mode, seed=1, prefix="g")
    write_images(root / defect, n_defect, ext, mode=mode, seed=2, prefix="d")
    if n_test:
        write_images(root / test, n_test, ext, mode=mode, seed=3, prefix="t")
    return root


def config(root: Path, **kw) -> DataConfig:
    cfg = DataConfig(dataset="nexperia", data_dir=str(root), image_size=[16, 16], **kw)
    cfg.validate()
    return cfg


def fails(capsys, command, argv, *names) -> str:
    """Run a command that must refuse its input; returns its one error line, which must contain every name."""
    with pytest.raises(SystemExit) as e:
        command([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert e.value.code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in out + err
    for name in names:
        assert str(name) in errors[0], errors[0]
    return errors[0]


def load_benchmark(name: str):
    """Import benchmarks/<name>.py. benchmarks/ is a folder of scripts, not a package; the module is registered in
    sys.modules so that dataclasses and tyro can resolve its annotations."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
