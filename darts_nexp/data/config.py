"""Data settings: which images, at what size, and how they are generated and augmented."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import UserError

DATASETS = ("synthetic", "nexperia")
RESIZE_MODES = ("resize", "crop")


@dataclass
class SyntheticConfig:
    """Knobs of the built-in Nexperia-like generator (see synthetic.py)."""
    n_train: int = 2400
    n_test: int = 600
    size: list[int] = field(default_factory=lambda: [267, 275], metadata={"help": "H W of the generated images"})
    seed: int = 0
    label_noise: float = field(default=0.01, metadata={"help": "fraction of images filed under the wrong class"})
    duplicate_rate: float = field(default=0.01, metadata={"help": "fraction of images that are (near) copies"})
    defect_fraction: float = 0.2

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
    shift: int = field(default=4, metadata={"help": "max random translation in pixels (edge padded)"})
    hflip: bool = True
    vflip: bool = True
    brightness: float = field(default=0.1, metadata={"help": "max added brightness, in units of full scale"})
    contrast: float = field(default=0.1, metadata={"help": "max relative contrast change"})

    def validate(self) -> None:
        if self.shift < 0 or self.brightness < 0 or not 0 <= self.contrast < 1:
            raise UserError(f"augment: shift and brightness must be >= 0 and contrast in [0, 1) (got {self})")


@dataclass
class DataConfig:
    dataset: str = field(default="synthetic", metadata={"flag": "--dataset", "help": "synthetic or nexperia"})
    data_dir: Optional[str] = field(default=None, metadata={
        "flag": "--data-dir", "help": "dataset root; synthetic: generated there (default data/synthetic)"})
    cache_dir: Optional[str] = field(default=None, metadata={
        "help": "decoded-image cache (default <data_dir>/.cache, or ~/.cache/darts-nexp if not writable)"})
    image_size: list[int] = field(default_factory=lambda: [64, 64], metadata={"help": "H W the models see"})
    resize: str = field(default="resize", metadata={"help": "resize (whole image) or crop (center crop first)"})
    crop_border: int = field(default=0, metadata={"help": "pixels cut off each side first (border scratches)"})
    channels: int = field(default=1, metadata={"help": "1, or 3 to repeat the gray channel"})
    labels_csv: Optional[str] = field(default=None, metadata={"help": "id,label CSV for the test folder"})
    val_fraction: float = 0.1
    test_fraction: float = field(default=0.1, metadata={"help": "train held out as test when test is unlabelled"})
    drop_duplicates: bool = False
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> None:
        if self.dataset not in DATASETS:
            raise UserError(f"unknown dataset {self.dataset!r}; valid datasets are {', '.join(DATASETS)}")
        if self.dataset == "nexperia" and self.data_dir is None:
            raise UserError("--dataset nexperia needs --data-dir DIR (the folder holding train/ and test/)")
        if self.resize not in RESIZE_MODES:
            raise UserError(f"unknown resize mode {self.resize!r}; valid modes are {', '.join(RESIZE_MODES)}")
        if len(self.image_size) != 2 or min(self.image_size) < 8:
            raise UserError(f"image_size must be two numbers H W, each >= 8 (got {self.image_size})")
        if self.channels not in (1, 3):
            raise UserError(f"channels must be 1 or 3 (got {self.channels})")
        if self.crop_border < 0:
            raise UserError(f"crop_border must be >= 0 (got {self.crop_border})")
        if not (0 <= self.val_fraction < 0.5 and 0 <= self.test_fraction < 0.5):
            raise UserError(f"val_fraction and test_fraction must be in [0, 0.5) "
                            f"(got {self.val_fraction}, {self.test_fraction})")
        self.synthetic.validate()
        self.augment.validate()

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
