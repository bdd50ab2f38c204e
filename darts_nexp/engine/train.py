"""Training the network of a genotype from scratch (Liu et al., 2018, sec. 3.3), or a torchvision model: its config,
and a run from data to test metrics.

The run directory gets config.yaml, genotype.yaml (DARTS), TensorBoard events, best.pt (by validation AUC) and
last.pt, and from the best checkpoint on the test split: metrics.json, roc.png, predictions.csv, and submission.csv
when the dataset has an unlabelled test folder. docs/training.md explains every option.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Optional

import torch
import yaml

from .. import distributed
from ..band import check_band_options, choose_band, describe_band, require_defects
from ..calibration import calibration_of, describe_calibration, fit_calibration
from ..config import DEFAULT_IN_HELP, check_at_least, check_optimiser, check_recompute, to_dict
from ..data import Batches, DataConfig, train_splits
from ..deploy import lut
from ..deploy.latency import model_latency
from ..deploy.scorer import Scorer
from ..errors import UserError
from ..final import check_buildable, multiply_adds, param_count
from ..final.loss import Criterion, class_weights
from ..final.trainer import train_epoch
from ..loops import predict, weight_optimizer
from ..metrics import check_threshold_options, choose_threshold
from ..models import DARTS, check_model_name, create_model, load_model, split_parameters
from ..report import write_report, write_submission
from ..runs import BEST, COMMANDS, CONFIG, GENOTYPE, LAST, SUBMISSION, TRAIN_HISTORY, Run, load_checkpoint
from ..runtime import Amp, compile_in_place, memory_note, start_runtime
from ..space import Genotype
from .inputs import resolve_input
from .lifecycle import keeping, open_run, run_epochs, start_run


@dataclass
class TrainConfig:
    """Settings of `darts-nexp train` (docs/training.md)."""
    # epochs too: the exp schedule just goes on (a cosine one cannot, and is refused in run())
    RESUME_MAY_CHANGE = ("device", "threads", "channels_last", "grad_checkpointing", "compile", "progress", "epochs",
                         "data.data_dir", "data.cache_dir")
    model: str = "darts"
    """darts (the network of --genotype), or a torchvision classification model by name: resnet18, resnet50,
    resnext50_32x4d, wide_resnet50_2, densenet121, vgg16, efficientnet_b0, ... (an unknown name gets the list)"""
    genotype: Optional[str] = None
    """genotype YAML file (one written by darts-nexp search), or the name of a published one: darts_v1, darts_v2;
    for --model darts"""
    pretrained: str = "none"
    """torchvision models: none (from scratch), imagenet (torchvision's weights, from the torch hub cache), or the
    path of a torchvision state dict of the same architecture"""
    freeze_epochs: int = 0
    """train only the classifier for this many epochs first, the backbone frozen"""
    backbone_lr_scale: float = 1.0
    """learning rate of everything but the classifier, as a multiple of --lr"""
    seed: int = 0
    """seeds the split, the weights and the data order"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto (CUDA when present), cpu or cuda"""
    threads: Annotated[Optional[int], DEFAULT_IN_HELP] = None
    """CPU threads of torch (default: one per CPU this process may use)"""
    epochs: int = 50
    """training epochs"""
    batch_size: int = 32
    """images per batch"""
    optimizer: Literal["sgd", "adamw"] = "sgd"
    """sgd (the DARTS recipe), or adamw (pass a smaller --lr, such as 1e-3)"""
    lr: float = 0.1
    """initial learning rate"""
    momentum: float = 0.9
    """SGD momentum"""
    weight_decay: float = 3e-5
    """weight decay (decoupled, for adamw)"""
    schedule: Literal["exp", "cosine"] = "exp"
    """exp (lr x lr_gamma every epoch) or cosine (to lr_min)"""
    lr_gamma: float = 0.97
    """per-epoch decay of the exp schedule"""
    lr_min: float = 0.0
    """final learning rate of the cosine schedule"""
    label_smoothing: float = 0.1
    """label smoothing of the cross-entropy"""
    grad_clip: float = 5.0
    """max global norm of the gradient"""
    auxiliary_weight: float = 0.4
    """weight of the auxiliary loss; 0: no auxiliary head (darts)"""
    drop_path_rate: float = 0.0
    """drop-path probability, ramped up from 0 over the epochs (darts)"""
    stem: Literal["auto", "imagenet", "cifar"] = "auto"
    """imagenet (stride-2 convs to 1/8), cifar (one conv at full resolution), or auto: imagenet from 128 px up
    (darts)"""
    layers: int = 14
    """cells in the network (darts)"""
    init_channels: int = 48
    """C: channels per node in the first cells, doubled at each reduction (darts)"""
    stem_multiplier: int = 3
    """cifar stem width, in units of C (darts)"""
    num_classes: int = 2
    """classes of the classifier (training needs 2; other counts are for --summary)"""
    class_weights: Literal["none", "balanced"] = "none"
    """none, or balanced (inverse class frequency)"""
    loss: Literal["ce", "focal"] = "ce"
    """ce (cross-entropy) or focal"""
    focal_gamma: float = 2.0
    """focusing parameter of the focal loss"""
    threshold_cost_ratio: Optional[float] = None
    """threshold of least cost: cost of a missed defect / cost of a rejected good part"""
    threshold_max_fpr: Optional[float] = None
    """threshold rejecting at most this share of good parts (neither option: Youden's J)"""
    max_miss_rate: Optional[float] = None
    """review band: pass at most this share of the validation defects (with --max-review; docs/metrics.md)"""
    max_review: Optional[float] = None
    """review band: send at most this share of the validation parts to a person (with --max-miss-rate)"""
    calibration: Literal["platt", "temperature"] = "platt"
    """map from defect score to probability, fitted on validation: platt (a temperature and a bias) or temperature
    (docs/metrics.md)"""
    amp: bool = True
    """mixed precision (CUDA only)"""
    amp_dtype: Literal["bf16", "fp16"] = "bf16"
    """bf16, or fp16 (with loss scaling)"""
    channels_last: bool = True
    """the channels-last memory format for the network: faster on the CPU and the GPU (docs/benchmarks.md)"""
    grad_checkpointing: bool = False
    """darts: keep only each operation's input in the forward pass and run it again in the backward pass: the same
    numbers in less memory, for more time (docs/training.md)"""
    compile: bool = False
    """torch.compile the network: the first steps are slow while it compiles (docs/training.md)"""
    progress: bool = True
    """show a progress bar per epoch"""
    test: bool = True
    """score the best checkpoint on the test split at the end; false leaves the test split untouched (a run that
    only ranks cells by validation AUC, as the cell selection of darts-nexp search --select-by retrain does)"""
    out: Annotated[Optional[str], DEFAULT_IN_HELP] = None
    """run directory (default runs/train-<date>-<time>)"""
    data: DataConfig = field(default_factory=DataConfig)

    def validate(self) -> None:
        check_at_least(self, epochs=1, batch_size=2, layers=1, num_classes=2)  # BatchNorm: 2 images
        if self.stem_multiplier < 1:
            raise UserError(f"--stem-multiplier must be 1 or more (got {self.stem_multiplier})")
        if self.init_channels < 2 or self.init_channels % 2:
            raise UserError(f"init_channels must be even and >= 2 (got {self.init_channels})")
        if not 0 <= self.drop_path_rate < 1:
            raise UserError(f"drop_path_rate must be in [0, 1) (got {self.drop_path_rate})")
        check_optimiser(self, positive=("lr", "grad_clip", "lr_gamma", "backbone_lr_scale"),
                        at_least_zero=("lr_min", "weight_decay", "focal_gamma", "freeze_epochs", "auxiliary_weight"))
        if self.schedule == "exp" and self.lr_gamma > 1:
            raise UserError(f"--lr-gamma {self.lr_gamma:g} would raise the learning rate every epoch; pass a factor "
                            f"in (0, 1], such as the paper's 0.97")
        check_model_name(self.model)
        if self.model == DARTS and self.pretrained != "none":
            raise UserError(f"--pretrained {self.pretrained} is for torchvision models; the darts network trains "
                            f"from scratch (pass --model NAME, or drop --pretrained)")
        if self.model != DARTS and self.drop_path_rate:
            raise UserError(f"--drop-path-rate is for the darts network; {self.model} has its own (drop it)")
        if self.model != DARTS and self.grad_checkpointing:
            raise UserError(f"--grad-checkpointing is for the darts network, not {self.model}; drop it")
        check_recompute(self)
        if not 0 <= self.label_smoothing < 1:
            raise UserError(f"label_smoothing must be in [0, 1) (got {self.label_smoothing})")
        check_threshold_options(self.threshold_cost_ratio, self.threshold_max_fpr)
        check_band_options(self.max_miss_rate, self.max_review)


def load_genotype(cfg: TrainConfig) -> Optional[Genotype]:
    if cfg.model != DARTS:
        if cfg.genotype is not None:
            raise UserError(f"--genotype is for the darts network, not {cfg.model}; drop one of them")
        return None
    if cfg.genotype is None:
        raise UserError("no genotype given; pass --genotype FILE (or a published one by name, such as darts_v2), or a "
                        "torchvision model with --model NAME")
    genotype = Genotype.load(cfg.genotype)
    check_buildable(genotype, cfg.genotype)
    return genotype


def build_model(cfg: TrainConfig, genotype: Optional[Genotype]) -> torch.nn.Module:
    """The untrained network, its weights drawn from cfg.seed (and loaded from --pretrained)."""
    torch.manual_seed(cfg.seed)
    darts_args = dict(init_channels=cfg.init_channels, layers=cfg.layers, stem=cfg.stem,
                      stem_multiplier=cfg.stem_multiplier, auxiliary=cfg.auxiliary_weight > 0,
                      drop_path_rate=cfg.drop_path_rate) if cfg.model == DARTS else {}
    return create_model(cfg.model, num_classes=cfg.num_classes, in_chans=cfg.data.channels,
                        pretrained=cfg.pretrained, genotype=genotype, **darts_args)


def place(cfg: TrainConfig, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The network on its device, in the memory format, with the checkpointing and the compilation cfg asks for."""
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    if cfg.grad_checkpointing:
        model.set_grad_checkpointing()
    if cfg.compile:
        compile_in_place(model, "forward_train")
    return model


def size_of(cfg: TrainConfig, model: torch.nn.Module, image_size: list[int]) -> dict:
    """Parameters (without a DARTS auxiliary head) and multiply-adds of one image; a model that cannot take images
    of this size is refused with a message."""
    try:
        macs = multiply_adds(model, tuple(image_size), cfg.data.channels)
    except (RuntimeError, AssertionError, ValueError) as e:
        first = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise UserError(f"{cfg.model} cannot take {image_size[0]}x{image_size[1]} images ({first}); pass another "
                        f"--data.image-size or --model") from None
    return {"params": param_count(model), "multiply_adds": macs}


def describe(cfg: TrainConfig, genotype: Optional[Genotype]) -> str:
    if cfg.model == DARTS:
        return (f"{genotype.name or cfg.genotype}: {cfg.stem} stem, {cfg.layers} layers, C={cfg.init_channels}, "
                f"{cfg.num_classes} classes, {cfg.data.channels} input channel(s)")
    return (f"{cfg.model} ({cfg.pretrained if cfg.pretrained != 'none' else 'from scratch'}), {cfg.num_classes} "
            f"classes, {cfg.data.channels} input channel(s)")


def summary(cfg: TrainConfig, image_size: list[int]) -> dict:
    """Print the parameter count (without the auxiliary head) and the multiply-adds at image_size (H, W)."""
    genotype = load_genotype(cfg)
    model = build_model(cfg, genotype)
    size = size_of(cfg, model, image_size)
    aux = sum(p.numel() for p in model.parameters()) - size["params"]
    print(describe(cfg, genotype))
    print(f"  parameters:    {size['params'] / 1e6:.2f}M ({size['params']:,}"
          + (f" without the auxiliary head; the head adds {aux:,})" if aux else ")"))
    print(f"  multiply-adds: {size['multiply_adds'] / 1e6:.0f}M at {image_size[0]}x{image_size[1]} (convolutions "
          f"and linear layers)")
    return size


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD or AdamW; with --backbone-lr-scale, the backbone in a group of its own at lr x scale (the head stays
    at lr)."""
    if cfg.backbone_lr_scale == 1:
        groups = [{"params": list(model.parameters())}]
    else:
        backbone, head = split_parameters(model)
        groups = [{"params": backbone, "lr": cfg.lr * cfg.backbone_lr_scale}, {"params": head}]
    return weight_optimizer(cfg.optimizer, groups, cfg.lr, cfg.momentum, cfg.weight_decay)


def freeze_backbone(model: torch.nn.Module, frozen: bool) -> None:
    """Stop (or restart) the gradients of everything but the classifier; SGD skips parameters without a gradient,
    so a frozen backbone keeps its weights exactly. Its batch-norm statistics still follow the data."""
    for p in split_parameters(model)[0]:
        p.requires_grad_(not frozen)


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer):
    if cfg.schedule == "exp":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, cfg.lr_gamma)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.epochs, eta_min=cfg.lr_min)


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict
    history: list
    seconds: float


def run(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """Train (or continue the run in cfg.out when `resume`), then score the best checkpoint on the test split.
    Under torchrun each rank runs this (distributed.py); rank 0 alone scores the test split."""
    start = time.time()
    if cfg.num_classes != 2:
        raise UserError(f"training needs --num-classes 2 (good and defect), got {cfg.num_classes}; other counts "
                        f"are for --summary only")
    with distributed.session(start_runtime(cfg.device, cfg.threads)) as (ranks, device):
        return _train(cfg, resume, ranks, device, start)


class TrainJob:
    """One training epoch (lifecycle.Job): SGD or AdamW steps on the training split, validation, and the best
    network so far (by validation AUC) kept with its validation scores, threshold, calibration and review band."""

    def __init__(self, cfg: TrainConfig, run: Run, model: torch.nn.Module, splits, ranks: distributed.Ranks,
                 device: torch.device, state: dict | None):
        self.cfg, self.run, self.model, self.ranks = cfg, run, model, ranks
        self.optimizer = make_optimizer(cfg, model)
        self.scheduler = make_scheduler(cfg, self.optimizer)
        self.amp = Amp(device, cfg.amp, cfg.amp_dtype)
        self.best_auc = None
        if state is not None:
            if cfg.schedule == "cosine" and state["scheduler"].get("T_max") != cfg.epochs:
                raise UserError(f"--epochs {cfg.epochs}: this run's cosine schedule was laid out for "
                                f"{state['scheduler'].get('T_max')} epochs and cannot be stretched; start a new run")
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if state["scaler"]:  # empty when the run so far had no fp16 loss scaling (CPU, or bf16)
                self.amp.scaler.load_state_dict(state["scaler"])
            self.best_auc = state["best_auc"]
        self.criterion = Criterion(cfg.loss, cfg.label_smoothing,
                                   class_weights(splits.train.labels, 2, cfg.class_weights), cfg.focal_gamma)
        # Batch statistics of a single leftover image are meaningless, so a last partial batch is dropped.
        self.train_batches = Batches(splits.train, cfg.batch_size, device, shuffle=True, seed=cfg.seed,
                                     augment=cfg.data.augment, drop_last=len(splits.train) > cfg.batch_size,
                                     ranks=ranks)
        self.val_batches = Batches(ranks.shard(splits.val), cfg.batch_size, device, shuffle=False, seed=cfg.seed)
        self.common = {"model": model.spec(), "data": to_dict(cfg.data)}

    def train(self, epoch: int) -> dict:
        cfg, model = self.cfg, self.model
        self.train_batches.set_epoch(epoch)
        if cfg.drop_path_rate:
            model.drop_prob = cfg.drop_path_rate * epoch / cfg.epochs  # ramped from 0, as in the reference
        if cfg.freeze_epochs:
            freeze_backbone(model, frozen=epoch < cfg.freeze_epochs)
        lr = self.scheduler.get_last_lr()[0]
        stats = train_epoch(model, self.train_batches, self.optimizer, self.criterion, cfg.auxiliary_weight,
                            cfg.grad_clip, self.amp, epoch=epoch + 1, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                            progress=cfg.progress and self.ranks.is_main, ranks=self.ranks)
        self.scheduler.step()
        return {**stats, "lr": lr}

    def end(self, epoch: int, stats: dict, scores, labels) -> tuple[dict, str]:
        score = -math.inf if math.isnan(stats["val_auc"]) else stats["val_auc"]
        improved = self.best_auc is None or score > self.best_auc
        if improved:
            self.best_auc = score
            threshold = {**choose_threshold(labels, scores, self.cfg.threshold_cost_ratio,
                                            self.cfg.threshold_max_fpr), "chosen_on": "validation"}
            val = {"scores": torch.from_numpy(scores), "labels": torch.from_numpy(labels)}
            chosen = {"threshold": threshold, "calibration": fit_calibration(labels, scores, self.cfg.calibration)}
            if self.cfg.max_miss_rate is not None:
                chosen["review_band"] = choose_band(labels, scores, threshold["value"], self.cfg.max_miss_rate,
                                                    self.cfg.max_review)
            self.run.save_checkpoint(BEST, "best", {**self.common, "state_dict": self.model.state_dict(),
                                                    "epoch": epoch, "val_auc": stats["val_auc"], "val": val,
                                                    **chosen})
        return {k: float(v) for k, v in stats.items()}, "  (best)" if improved else ""

    def log(self, writer, stats: dict) -> None:
        for key in ("train_loss", "train_main_loss", "train_auc", "val_loss", "val_auc", "lr"):
            writer.add_scalar(key.replace("_", "/", 1), stats[key], stats["epoch"])
        writer.add_scalar("memory/peak_mb", stats["peak_mb"], stats["epoch"])

    def save(self, epoch: int, history: list) -> None:
        self.run.save_checkpoint(LAST, "last", {
            **self.common, "state_dict": self.model.state_dict(), "epoch": epoch, "best_auc": self.best_auc,
            "history": history, "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.amp.scaler.state_dict()})
        # The epochs as text too: learning curves and a short training's score, readable without torch or the
        # checkpoints (which a kept record of a run may leave out).
        self.run.write(TRAIN_HISTORY, yaml.safe_dump(history, sort_keys=False, default_flow_style=None))


def _train(cfg: TrainConfig, resume: bool, ranks: distributed.Ranks, device: torch.device, start: float
           ) -> TrainResult:
    print(resolve_input(cfg))
    # Bad input (genotype, data, pretrained weights, an image size the model cannot take) is refused before any
    # folder is made, the genotype file first, before the data are read or made; rank 0 builds the image cache
    # that the others then read.
    genotype = None if resume else load_genotype(cfg)
    splits = ranks.main_first(lambda: train_splits(cfg.data, cfg.seed))
    distributed.check_batches(ranks, len(splits.train), cfg.batch_size, "training")
    if cfg.max_miss_rate is not None:
        require_defects(splits.val.labels)
    model = None if resume else build_model(cfg, genotype)
    size = None if resume else size_of(cfg, model, cfg.data.image_size)
    run = open_run(cfg, "train", resume, ranks)
    # Read before the run is marked running again, best.pt too (its end scores it): a damaged checkpoint leaves a
    # finished run as it was.
    state = load_checkpoint(run.file(LAST), ("last",)) if resume and run.file(LAST).is_file() else None
    if resume and run.file(BEST).is_file():
        load_checkpoint(run.file(BEST), ("best",))
    with keeping(run, LAST):
        if resume:  # the architecture comes from the checkpoint, whatever the genotype file holds now
            model = load_model(state) if state is not None else build_model(cfg, load_genotype(cfg))
            size = size_of(cfg, model, cfg.data.image_size)
        start_run(run, cfg, splits, resume, ranks)
        if cfg.model == DARTS and ranks.is_main:
            model.genotype.save(run.file(GENOTYPE))
        print(f"{describe(cfg, getattr(model, 'genotype', None))}: {size['params'] / 1e6:.2f}M parameters, "
              f"{size['multiply_adds'] / 1e6:.0f}M multiply-adds per image")
        place(cfg, model, device)
        job = TrainJob(cfg, run, model, splits, ranks, device, state)
        start_epoch, history = (state["epoch"] + 1, state["history"]) if state is not None else (0, [])
        if state is not None:
            print(f"resuming {run} after epoch {start_epoch} of {cfg.epochs}")
        ranks.copy_from_main_(model)
        run_epochs(job, run, ranks, device, cfg.seed, start_epoch, cfg.epochs, history, LAST,
                   f"start a new run with a lower learning rate (--lr, now {cfg.lr:g})")
        if not ranks.is_main:
            return TrainResult(run.path, {}, history, time.time() - start)
        return _finish(cfg, run, splits, device, history, time.time() - start)


def measure_latency(model: torch.nn.Module, data: DataConfig, device: torch.device) -> dict:
    """The trained network's eager latency at batch 1 and 32 on the run's own device, scaling included, as
    `darts-nexp latency` measures it (docs/deploy.md)."""
    rows = model_latency(Scorer(model), (data.channels, *data.image_size), [1, 32], device)
    return {"backend": "pytorch", "device": device.type, "threads": torch.get_num_threads(),
            **{f"batch_{r['batch']}_ms_per_image": r["ms_per_image"] for r in rows},
            "batch_32_images_per_s": rows[1]["images_per_s"]}


def prediction_note(cfg: TrainConfig, genotype: Optional[Genotype], device: torch.device) -> str | None:
    """What the search's latency table predicted for this network's cells, when the table describes this very
    network on this device (docs/deploy.md); None when the genotype has no prediction."""
    meta = genotype.meta if genotype is not None else {}
    if "predicted_latency_ms" not in meta:
        return None
    plan = lut.network_plan(cfg.data.image_size, cfg.stem, cfg.layers, cfg.init_channels, cfg.stem_multiplier,
                            len(genotype.normal) // 2)
    if meta.get("latency_plan") != plan or meta.get("latency_device") != device.type:
        return (f"the search's latency table was measured for another network or device ({meta.get('latency_plan')} "
                f"on {meta.get('latency_device')}), so its prediction does not apply here")
    return (f"the search's latency table predicted {meta['predicted_latency_ms']:.3f} ms at batch 1 for the cells; "
            f"the measured figure also holds the stem, the cells' input preprocessing and the classifier")


def _finish(cfg: TrainConfig, run_dir: Run, splits, device, history: list, seconds: float) -> TrainResult:
    """Score the test split (and the unlabelled folder) with the best checkpoint; print where everything went."""
    best = load_checkpoint(run_dir.file(BEST), ("best",))
    if not cfg.test:
        run_dir.finish()
        print(f"\ntraining finished in {seconds:.1f} s ({len(history)} epochs; best epoch {best['epoch'] + 1}, "
              f"val AUC {best['val_auc']:.4f}); the test split was not scored (--test false): "
              f"{COMMANDS['evaluate']} {run_dir} scores it")
        return TrainResult(run_dir.path, {"val_auc": best["val_auc"], "best_epoch": best["epoch"] + 1}, history,
                           seconds)
    model = load_model(best).to(device)

    def scores_of(images):
        return predict(model, Batches(images, cfg.batch_size, device, shuffle=False, seed=cfg.seed))[1]

    latency = measure_latency(model, cfg.data, device)
    info = {"test_source": splits.test_source, "checkpoint": str(run_dir.file(BEST)), "best_epoch": best["epoch"] + 1,
            "val_auc": best["val_auc"], "latency": latency}
    metrics, files = write_report(run_dir.path, splits.test.ids, splits.test.labels, scores_of(splits.test),
                                  best["threshold"], info, title=f"test ROC ({len(splits.test)} images)",
                                  calibration=calibration_of(best), band=best.get("review_band"))
    if splits.unlabelled is not None:
        files.append(write_submission(run_dir.file(SUBMISSION), splits.unlabelled.ids, scores_of(splits.unlabelled)))
    run_dir.finish()
    t = best["threshold"]
    print(f"\ntraining finished in {seconds:.1f} s ({len(history)} epochs; best epoch {best['epoch'] + 1}, "
          f"val AUC {best['val_auc']:.4f}; {memory_note(history, device)})")
    print(f"  test AUC {metrics['auc']:.4f} on {metrics['n_images']} images ({splits.test_source})")
    print(f"  threshold {t['value']:.4f} ({t['method']} on the {t['chosen_on']} split): recall {metrics['recall']:.3f}"
          f", precision {metrics['precision']:.3f}, TPR at 1%/5% FPR {metrics['tpr_at_fpr_1pct']:.3f}/"
          f"{metrics['tpr_at_fpr_5pct']:.3f}")
    print(f"  calibration: {describe_calibration(metrics['calibration'])}; test ECE "
          f"{metrics['calibration']['ece_before']:.4f} -> {metrics['calibration']['ece_after']:.4f}")
    if "review_band" in metrics:
        print(f"  {describe_band(metrics['review_band'])}")
    print(f"  latency ({latency['backend']} on {latency['device']}, {latency['threads']} threads): "
          f"{latency['batch_1_ms_per_image']:.2f} ms per image at batch 1, {latency['batch_32_ms_per_image']:.2f} ms "
          f"at batch 32 ({latency['batch_32_images_per_s']:,.0f} images/s)")
    note = prediction_note(cfg, getattr(model, "genotype", None), device)
    if note:
        print(f"  {note}")
    for path in files:
        print(f"  {path.name + ':':17s}{path}")
    print(f"  {'checkpoints:':17s}{run_dir.file(BEST)} (scored), {run_dir.file(LAST)} (continue with --resume "
          f"{run_dir})")
    print(f"  {'config:':17s}{run_dir.file(CONFIG)}")
    print(f"  {'tensorboard:':17s}tensorboard --logdir {run_dir}")
    print(f"  score new images: {COMMANDS['evaluate']} {run_dir} --data-dir FOLDER")
    return TrainResult(run_dir.path, metrics, history, seconds)
