"""The life of a run that learns for epochs, written once for the search and for the final training.

    run = open_run(cfg, "train", resume, ranks)       # a new run directory, or the one --resume names
    with keeping(run, LAST):                           # a failed write: one line that says what is kept
        ... load the checkpoint of a resumed run ...
        start_run(run, cfg, splits, resume, ranks)     # splits.json (checked on resume), run.json, config.yaml
        run_epochs(job, run, ...)                      # per epoch: seed, steps, validation, history, checkpoint
        ... the results ...

What differs between a search and a training is the job: what one epoch of steps does (`train`), what it keeps of
an epoch and whether it is the best so far (`end`), what it logs and what it checkpoints (`save`). Everything else,
exact resume included, is here: each epoch is seeded from (seed, epoch) before its first step, and checkpointed
after its validation.
"""
from __future__ import annotations

import contextlib
from typing import Protocol

from tqdm import tqdm

from ..data import save_splits
from ..distributed import Ranks
from ..errors import UserError
from ..io import WriteFailed
from ..loops import predict
from ..metrics import auc
from ..runs import COMMANDS, CONFIG, Run, load_checkpoint
from ..runtime import Events, peak_memory_mb, seed_epoch


def open_run(cfg, kind: str, resume: bool, ranks: Ranks) -> Run:
    """The run directory of cfg.out (made by rank 0; the others only read it), which cfg.out then names."""
    run = ranks.from_main(Run.open(cfg.out, kind, resume) if ranks.is_main else None)
    run.writes = ranks.is_main
    cfg.out = str(run.path)
    return run


def start_run(run: Run, cfg, splits, resume: bool, ranks: Ranks) -> None:
    """Record the splits (first: a resume on changed data is refused before anything else is written), mark a resumed
    run running again, and save the resolved config."""
    if ranks.is_main:
        save_splits(run.path, cfg.seed, splits)
    if resume:
        run.begin()
    run.save_config(cfg)


@contextlib.contextmanager
def keeping(run: Run, checkpoint: str):
    """Turn a failed write of the run into one line that names the file, the space left, and what is kept: a failed
    write never replaces a file, so `checkpoint` holds the last finished epoch and a resume continues from it."""
    try:
        yield
    except WriteFailed as e:
        resume = f"{e.remedy} and resume with {COMMANDS[run.kind]} --resume {run.path}"
        epoch = None
        if run.file(checkpoint).is_file():
            with contextlib.suppress(UserError):  # a damaged one must not hide the failed write
                epoch = load_checkpoint(run.file(checkpoint))["epoch"] + 1
        if epoch is not None:
            kept = f"{run.file(checkpoint)} from epoch {epoch} is kept: {resume}"
        elif run.file(CONFIG).is_file():
            kept = f"no epoch finished, so there is no checkpoint: {resume}"
        else:  # a resume needs the config
            kept = f"the run has no config.yaml yet: {e.remedy} and start a new run with another --out"
        raise UserError(f"{e.problem}; {kept}") from None


class Job(Protocol):
    """One kind of learning run, as run_epochs drives it."""
    model: object
    val_batches: object

    def train(self, epoch: int) -> dict:
        """One epoch of steps (`epoch` from 0); returns its stats, with train_loss, train_auc and lr."""

    def end(self, epoch: int, stats: dict, scores, labels) -> tuple[dict, str]:
        """After validation: the history entry of the epoch, and a note for its log line."""

    def log(self, writer, stats: dict) -> None:
        """TensorBoard records of the epoch."""

    def save(self, epoch: int, history: list) -> None:
        """The checkpoint a resume continues from."""


def run_epochs(job: Job, run: Run, ranks: Ranks, device, seed: int, start: int, epochs: int, history: list,
               checkpoint: str, hint: str) -> list:
    """Run epochs `start`..`epochs - 1` (from 0), appending to `history`, which it returns. Ctrl-C and a diverging
    loss end the run with one message that names `checkpoint` (the last good one) and `hint` (what to change)."""
    writer = Events(run.path) if ranks.is_main else None
    try:
        with run.guard(checkpoint, hint):
            for epoch in range(start, epochs):
                seed_epoch(seed, epoch)
                stats = job.train(epoch)
                ranks.mean_buffers_(job.model)
                # Scored in fp32, like the test and evaluate, so that a threshold means the same everywhere.
                val_loss, scores, labels = predict(job.model, job.val_batches, epoch + 1, ranks)
                stats.update(epoch=epoch + 1, val_loss=val_loss, val_auc=auc(labels, scores),
                             peak_mb=peak_memory_mb(device))
                entry, note = job.end(epoch, stats, scores, labels)
                history.append(entry)
                if writer is not None:
                    job.log(writer, stats)
                job.save(epoch, history)
                tqdm.write(f"epoch {epoch + 1}/{epochs}: train loss {stats['train_loss']:.4f} auc "
                           f"{stats['train_auc']:.4f} | val loss {val_loss:.4f} auc {stats['val_auc']:.4f} | lr "
                           f"{stats['lr']:.5f}{note}")
    except BaseException:
        if writer is not None:
            with contextlib.suppress(UserError):  # the error that stopped the run is the one to report
                writer.close()
        raise
    if writer is not None:
        writer.close()
    return history
