"""Score a folder of images with a trained network: how new production images get their defect scores.

The network, its input size and preprocessing all come from the checkpoint (best.pt of a run directory by default).
Writes submission.csv (id,defect_score) for every image and, for the images whose label is known (class folders
such as good/ and defect/, or --labels-csv), metrics.json, predictions.csv and roc.png, as a training run does. The
run's calibration and review band are applied as stored; --max-miss-rate and --max-review choose a new band on the
run's validation scores.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Optional

import numpy as np
import tyro

from ..band import check_band_options, choose_band, describe_band
from ..calibration import describe_calibration
from ..config import DEFAULT_IN_HELP, from_dict
from ..data import DataConfig, load_folder
from ..data.layout import match_rows, read_labels
from ..deploy.exported import kind_of
from ..deploy.predictor import Predictor, from_checkpoint, load
from ..errors import UserError
from ..metrics import check_threshold_options, choose_threshold
from ..report import write_report, write_submission
from ..runs import COMMANDS, SUBMISSION, Run, load_checkpoint, trained_checkpoint
from ..runtime import start_runtime


@dataclass
class EvaluateConfig:
    """Settings of `darts-nexp evaluate` (docs/training.md)."""
    checkpoint: Annotated[tyro.conf.Positional[Optional[str]],
                          tyro.conf.arg(metavar="RUN_DIR|FILE", help_behavior_hint="")] = None
    """a run directory of darts-nexp train (its best.pt is used), a checkpoint file, or an exported .onnx or
    .torchscript file (darts-nexp export)"""
    data_dir: Annotated[Optional[str], tyro.conf.arg(aliases=("--data.data-dir",))] = None
    """folder of images to score"""
    labels_csv: Annotated[Optional[str], tyro.conf.arg(aliases=("--data.labels-csv",))] = None
    """id,label CSV giving the images' labels"""
    cache_dir: Annotated[Optional[str], tyro.conf.arg(aliases=("--data.cache-dir",), help_behavior_hint="")] = None
    """decoded-image cache (default <data_dir>/.cache, or ~/.cache/darts-nexp if that is not writable)"""
    out: Annotated[Optional[str], DEFAULT_IN_HELP] = None
    """output folder (default: a new eval-<folder>-<time> inside the run directory)"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto (CUDA when present), cpu or cuda"""
    threads: Annotated[Optional[int], DEFAULT_IN_HELP] = None
    """CPU threads of torch (default: one per CPU this process may use)"""
    batch_size: int = 64
    """images per batch"""
    threshold: Annotated[Optional[float], DEFAULT_IN_HELP] = None
    """fixed defect-score threshold (default: the one chosen when training)"""
    threshold_cost_ratio: Optional[float] = None
    """re-choose the threshold on the run's validation scores: least cost for this cost ratio"""
    threshold_max_fpr: Optional[float] = None
    """re-choose the threshold on the run's validation scores: at most this FPR"""
    max_miss_rate: Optional[float] = None
    """choose a review band on the run's validation scores (with --max-review): pass at most this share of defects"""
    max_review: Optional[float] = None
    """choose a review band (with --max-miss-rate): send at most this share of the parts to a person"""

    def validate(self) -> None:
        if self.threshold is not None and (self.threshold_cost_ratio, self.threshold_max_fpr) != (None, None):
            raise UserError("pass either --threshold or a --threshold-cost-ratio / --threshold-max-fpr, not both")
        check_threshold_options(self.threshold_cost_ratio, self.threshold_max_fpr)
        check_band_options(self.max_miss_rate, self.max_review)
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be >= 1 (got {self.batch_size})")
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise UserError(f"--threshold is a defect-score threshold in [0, 1] (got {self.threshold})")


def validation_of(ckpt: dict | None, what: str, instead: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of the run's validation split, stored in best.pt, to choose `what` on; `ckpt` is None for an
    exported model, whose file holds none."""
    if ckpt is None or "val" not in ckpt:
        holder = "an exported model" if ckpt is None else "this checkpoint"
        raise UserError(f"{holder} holds no validation scores to choose {what} on; pass the run's best.pt (or its "
                        f"folder){instead}")
    return ckpt["val"]["labels"].numpy(), ckpt["val"]["scores"].numpy()


def threshold_for(cfg: EvaluateConfig, ckpt: dict | None, predictor: Predictor) -> dict:
    """The threshold of the decisions: --threshold, one chosen again on the run's validation scores, or the one the
    model was trained with."""
    if cfg.threshold is not None:
        return {"value": cfg.threshold, "method": "fixed", "chosen_on": "command line"}
    if (cfg.threshold_cost_ratio, cfg.threshold_max_fpr) != (None, None):
        labels, scores = validation_of(ckpt, "a threshold", ", or a fixed --threshold")
        return {**choose_threshold(labels, scores, cfg.threshold_cost_ratio, cfg.threshold_max_fpr),
                "chosen_on": "validation"}
    return predictor.threshold


def band_for(cfg: EvaluateConfig, ckpt: dict | None, predictor: Predictor, threshold: dict) -> dict | None:
    """The review band of the decisions: one chosen on the run's validation scores around `threshold` for the
    targets of the command line, or else the one the model was trained with (None when it has none)."""
    if cfg.max_miss_rate is None:
        return predictor.meta.get("review_band")
    labels, scores = validation_of(ckpt, "a review band", "")
    return choose_band(labels, scores, threshold["value"], cfg.max_miss_rate, cfg.max_review)


def run(cfg: EvaluateConfig) -> dict:
    """Score every image under cfg.data_dir; returns {"metrics": dict or None, "files": [paths], "out": Path}."""
    if cfg.checkpoint is None:
        raise UserError(f"no network given; pass a run directory of {COMMANDS['train']}, a checkpoint file, or an "
                        f"exported model ({COMMANDS['export']})")
    if cfg.data_dir is None:
        raise UserError("no images given; pass --data-dir FOLDER (a folder of .jpg/.png/.bmp images)")
    device = start_runtime(cfg.device, cfg.threads)
    if kind_of(cfg.checkpoint) is not None:
        source, ckpt = Path(cfg.checkpoint), None
        predictor = load(source, device)
        data_cfg = predictor.data_config(data_dir=cfg.data_dir, cache_dir=cfg.cache_dir)
    else:
        source = trained_checkpoint(cfg.checkpoint)
        ckpt = load_checkpoint(source, ("best", "last"), hint="pass best.pt or last.pt of a training run, or its "
                                                              "folder")
        predictor = from_checkpoint(ckpt, source, device)
        # The preprocessing the network was trained with (size, crop, channels); only the folder is new.
        data_cfg = dataclasses.replace(from_dict(DataConfig, ckpt["data"], where=f"{source} data"),
                                       data_dir=cfg.data_dir, labels_csv=None, cache_dir=cfg.cache_dir)
    images = load_folder(cfg.data_dir, data_cfg)
    labels = images.labels
    if cfg.labels_csv:
        table = read_labels(Path(cfg.labels_csv))
        keys = match_rows(table, [images.paths], "labels")
        labels = np.array([y if k is None else table[k] for k, y in zip(keys, labels)], dtype=np.int64)
    scores = predictor.scores(images.images, cfg.batch_size)
    folder = Path(cfg.data_dir)
    out = cfg.out or str(source.parent / f"eval-{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    threshold = threshold_for(cfg, ckpt, predictor)
    band = band_for(cfg, ckpt, predictor, threshold)
    out_dir = Run.open(out, "evaluate")
    info = {"images": str(folder), "checkpoint": str(source)}
    metrics, files = write_report(out_dir.path, images.ids, labels, scores, threshold, info,
                                  title=f"ROC ({folder.name})", calibration=predictor.calibration, band=band)
    files.append(write_submission(out_dir.file(SUBMISSION), images.ids, scores))
    out_dir.finish()
    flagged = int((scores >= threshold["value"]).sum())
    print(f"scored {len(images)} images from {cfg.data_dir} with {source}")
    print(f"  threshold {threshold['value']:.4f} ({threshold['method']}): {flagged} flagged as defective")
    print(f"  calibration: {describe_calibration(predictor.calibration)}")
    if metrics is not None:
        print(f"  {metrics['n_images']} labelled: AUC {metrics['auc']:.4f}, recall {metrics['recall']:.3f}, "
              f"precision {metrics['precision']:.3f}, ECE {metrics['calibration']['ece_before']:.4f} -> "
              f"{metrics['calibration']['ece_after']:.4f}")
    if band is not None:
        print(f"  {describe_band(metrics['review_band'] if metrics is not None else band)}")
    for path in files:
        print(f"  {path.name + ':':17s}{path}")
    return {"metrics": metrics, "files": files, "out": out_dir.path}
