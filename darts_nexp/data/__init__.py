"""Data: the Nexperia reader (three folder layouts), a synthetic stand-in, the decoded-image cache, splits,
duplicate hygiene and on-device batch augmentation. See docs/data.md."""
from .batches import Batches, normalise
from .config import AugmentConfig, DataConfig, SyntheticConfig
from .dedup import duplicate_report
from .imageset import Dataset, ImageSet, load_dataset, load_folder
from .splits import SearchSplits, TrainSplits, check_splits, save_splits, saved_ids, search_splits, train_splits

__all__ = ["AugmentConfig", "Batches", "DataConfig", "Dataset", "ImageSet", "SyntheticConfig", "TrainSplits",
           "duplicate_report", "load_dataset", "load_folder", "normalise", "save_splits", "search_splits",
           "train_splits", "SearchSplits", "check_splits", "saved_ids"]
