"""Data settings: which images, at what size, and how they are generated and augmented."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Optional

import tyro

from ..errors import UserError


AUTO_SIZE = 128  # px on the short side: thin scratches vanish below that (docs/data.md)


def auto_image_size(native) -> list[int]:
    """The default input size for images of `native` (H, W): their own size, or shrunk to AUTO_SIZE px on the
    short side with the aspect kept."""
    h, w = native
    scale = min(1.0, AUTO_SIZE / min(h, w))
    return [max(8, round(h * scale)), max(8, round(w * scale))]


@dataclass
class SyntheticConfig:
    """Knobs of the built-in Nexperia-like generator (see synthetic.py)."""
    n_train: int = 2400
    """labelled training images"""
    n_test: int = 600
    """test images (their labels go to test_labels.csv)"""
    size: list[int] = field(default_factory=lambda: [267, 275])
    """H W of the generated images"""
    seed: int = 0
    """image i depends only on (seed, i)"""
    label_noise: float = 0.01
    """fraction of training images filed under the wrong class"""
    duplicate_rate: float = 0.01
    """fraction of images that are (near) copies of earlier ones"""
    defect_fraction: float = 0.2
    """fraction of defective parts"""

    def validate(self) -> None:
        if self.n_train < 4 or self.n_test < 0:
            raise UserError(f"synthetic.n_train must be >= 4 and n_test >= 0 (got {self.n_train}, {self.n_test})")
        if len(self.size) != 2 or min(self.size) < 32:
            raise UserError(f"synthetic.size must be two numbers H W, each >= 32 (got {self.size})")
        for name in ("label_noise", "duplicate_rate"):
            if not 0 <= getattr(self, name) < 0.5:
                raise UserError(f"synthetic.{name} must be in [0, 0.5) (got {getattr(self, name)})")
        if not 0 < self.defect_fraction < 1:
            raise UserError(f"synthetic.defect_fraction must be in (0, 1) (got {self.defect_fraction})")


@dataclass
class AugmentConfig:
    """Batch augmentation, run on the model's device (see batches.py)."""
    enabled: bool = True
    """augment the training batches"""
    shift: int = 4
    """max random translation in pixels (edge padded)"""
    hflip: bool = True
    """random horizontal flips"""
    vflip: bool = True
    """random vertical flips"""
    brightness: float = 0.1
    """max added brightness, in units of full scale"""
    contrast: float = 0.1
    """max relative contrast change"""

    def validate(self) -> None:
        if self.shift < 0 or self.brightness < 0 or not 0 <= self.contrast < 1:
            raise UserError(f"augment: shift and brightness must be >= 0 and contrast in [0, 1) (got {self})")


@dataclass
class DataConfig:
    """The images: which data set, at what size, how they are split and augmented (docs/data.md)."""
    dataset: Annotated[Literal["synthetic", "nexperia"], tyro.conf.arg(aliases=("--dataset",))] = "synthetic"
    """synthetic (generated in data_dir) or nexperia (your images in data_dir)"""
    data_dir: Annotated[Optional[str], tyro.conf.arg(aliases=("--data-dir",), help_behavior_hint="")] = None
    """dataset root; synthetic: generated there (default data/synthetic)"""
    cache_dir: Annotated[Optional[str], tyro.conf.arg(aliases=("--cache-dir",), help_behavior_hint="")] = None
    """decoded-image cache (default <data_dir>/.cache, or ~/.cache/darts-nexp if that is not writable)"""
    image_size: Annotated[Optional[list[int]], tyro.conf.arg(aliases=("--image-size",), metavar="H W",
                                                             help_behavior_hint="")] = None
    """H W the models see (default: the images' own size, shrunk to 128 px on the short side if larger)"""
    resize: Literal["resize", "crop"] = "resize"
    """resize (the whole image) or crop (a center crop of image_size first)"""
    crop_border: int = 0
    """pixels cut off each side first (border scratches)"""
    channels: Literal[1, 3] = 1
    """1, or 3 to repeat the gray channel"""
    labels_csv: Annotated[Optional[str], tyro.conf.arg(aliases=("--labels-csv",))] = None
    """id,label CSV for the test folder"""
    val_fraction: float = 0.1
    """share of the training images held out for validation in final training"""
    test_fraction: float = 0.1
    """share of the training images held out as test when the test folder has no labels"""
    drop_duplicates: bool = False
    """drop exact and near-duplicate training images before splitting"""
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> None:
        if self.dataset == "nexperia" and self.data_dir is None:
            raise UserError("--dataset nexperia needs --data-dir DIR (the folder holding train/ and test/)")
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 8):
            raise UserError(f"--data.image-size takes two numbers H W, each >= 8 (got {self.image_size})")
        if self.crop_border < 0:
            raise UserError(f"crop_border must be >= 0 (got {self.crop_border})")
        # Above 0 here, not only once the data are read and split. test_fraction too: a labelled test folder leaves
        # it unused, and 0 means nothing there either.
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0 < value < 0.5:
                raise UserError(f"--data.{name.replace('_', '-')} {value}: the share of the training images held out "
                                f"must be above 0 and below 0.5")

    def root(self) -> Path:
        """The dataset root this config points at (the synthetic set is not generated here: see synthetic.ensure)."""
        if self.data_dir is not None:
            return Path(self.data_dir).expanduser()
        if self.dataset == "nexperia":
            raise UserError("--dataset nexperia needs --data-dir DIR (the folder holding train/ and test/)")
        return Path("data/synthetic")

    def cache_root(self, root: Path) -> Path:
        """Where decoded images of the folder `root` are cached."""
        if self.cache_dir is not None:
            return Path(self.cache_dir).expanduser()
        if os.access(root, os.W_OK):
            return root / ".cache"
        return Path.home() / ".cache" / "darts-nexp"
