"""The run directory and checkpoint format, in one place (docs/runs.md describes it for users).

Every command writes one run directory. Its `run.json` records the kind of run (search, train, evaluate or
ensemble), the version of this format and whether the run finished, so that no command ever writes into a run of
another kind, nor into an existing run without `--resume`; and one process at a time holds a run directory (a lock
on its `.lock` file), so that no two commands write into the same one at once. Checkpoints are dictionaries of
tensors and plain Python values, saved with torch.save and read back with `weights_only=True`, each tagged with the
format and its role:

- "search" (checkpoint.pt of a search): epoch, model_args, weights, alphas, weight_optimizer, arch_optimizer,
  scheduler, history;
- "last" (last.pt of a training run): epoch, model, state_dict, data, best_auc, history, optimizer, scheduler, scaler;
- "best" (best.pt of a training run): epoch, model, state_dict, data, val_auc, val, threshold.

`model` is {"name", "args", "genotype"}: what rebuilds the network through models.create_model (the genotype as
data, not as YAML text; null for a torchvision model).
Format 1 (darts-nexp 0.1.0: no run.json, the genotype as YAML text) is read and upgraded in memory.
Every file is written to a temporary name and renamed, so a crash never leaves half a file behind.
"""
from __future__ import annotations

import contextlib
import datetime
import io
import json
import time
from pathlib import Path
from typing import IO

import torch
import yaml

from .config import dump_yaml, read_yaml
from .errors import Diverged, Interrupted, UserError
from .io import WriteFailed, load_user_yaml, lock_folder, lock_holder, read_user_text, write_atomic

FORMAT = 2
KINDS = ("search", "train", "evaluate", "ensemble")
# How messages name the command of each kind of run, and the other commands they send users to.
COMMANDS = {name: f"darts-nexp {name}" for name in (*KINDS, "derive", "explain", "features", "protocol", "export",
                                                     "latency", "latency-table")}
RESUMABLE = ("search", "train")

RUN_JSON = "run.json"
CONFIG = "config.yaml"
SPLITS = "splits.json"
GENOTYPE = "genotype.yaml"
HISTORY = "genotype_history.yaml"
TRAIN_HISTORY = "history.yaml"
SEARCH_CHECKPOINT = "checkpoint.pt"
LAST = "last.pt"
BEST = "best.pt"
METRICS = "metrics.json"
PREDICTIONS = "predictions.csv"
ROC = "roc.png"
SUBMISSION = "submission.csv"
# What the tools that study a training run write into it (darts-nexp explain / features).
EXPLAIN_DIR = "explain"
GRADCAM = "gradcam.png"
LOCALISATION = "localisation.json"
TSNE = "tsne.png"
FEATURES_DIR = "features"
FEATURES = "features.json"
ENSEMBLE = "ensemble.json"

CHECKPOINT_KEYS = {
    "search": ("epoch", "model_args", "weights", "alphas", "weight_optimizer", "arch_optimizer", "scheduler",
               "history"),
    "last": ("epoch", "model", "state_dict", "data", "best_auc", "history", "optimizer", "scheduler", "scaler"),
    "best": ("epoch", "model", "state_dict", "data", "val_auc", "val", "threshold"),
}


def a_run(kind: str) -> str:
    """"a search run", "an ensemble run": how messages name a kind of run."""
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} run"


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is damaged ({type(e).__name__}); restore it or start a new run") from None


def run_info(path: Path) -> dict:
    """What run.json says of a run (kind, format, status, created, finished); {} for a format-1 run."""
    path = Path(path) / RUN_JSON
    info = _read_json(path) if path.is_file() else {}
    return info if isinstance(info, dict) else {}


def run_kind(path: Path) -> str | None:
    """The kind of run a directory holds, None when it holds none. Format-1 runs (no run.json) are recognised
    by their files."""
    path = Path(path)
    if (path / RUN_JSON).is_file():
        info = _read_json(path / RUN_JSON)
        kind = info.get("kind") if isinstance(info, dict) else None
        if isinstance(info, dict) and isinstance(info.get("format"), int) and info["format"] > FORMAT:
            raise UserError(f"{path} was written by a newer darts-nexp (run format {info['format']}, this one "
                            f"reads up to {FORMAT}); upgrade darts-nexp to use it")
        if kind not in KINDS:
            raise UserError(f"{path / RUN_JSON} names no known kind of run ({kind!r}); restore it or start a new run")
        return kind
    if (path / SEARCH_CHECKPOINT).is_file() or (path / HISTORY).is_file():
        return "search"
    if (path / LAST).is_file() or (path / BEST).is_file():
        return "train"
    if (path / SPLITS).is_file():
        info = _read_json(path / SPLITS)
        kind = info.get("kind") if isinstance(info, dict) else None
        return kind if kind in RESUMABLE else None
    return None


class Run:
    """A run directory of one kind. `Run.open` creates or reopens one; `file(name)` gives the path of its files.

    Under torchrun every rank holds the Run, and only rank 0's `writes`: the others' writing methods do nothing.
    """

    def __init__(self, path: Path, kind: str, writes: bool = True):
        self.path, self.kind, self.writes = Path(path), kind, writes
        self._cpu = time.process_time()

    def __str__(self) -> str:
        return str(self.path)

    @classmethod
    def open(cls, out: str | None, kind: str, resume: bool = False) -> Run:
        """The run directory `out` (default runs/<kind>-<time>): a new one, or with `resume` an existing run of
        this kind, held by this process until the run finishes (claim). Anything else (a run of another kind, an
        existing run without --resume, a folder of other files, a folder that another darts-nexp process holds) is
        refused with a message, so that no finished work is ever overwritten; an evaluate or ensemble run that
        never finished is started afresh."""
        assert kind in KINDS, kind
        if resume:
            _resumable(Path(out), kind)
            claim(Path(out), resume=True)
            return cls(Path(out), kind)  # marked running by begin(), once the resume has been found sound
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = Path(out) if out else Path("runs") / f"{kind}-{stamp}"
        if path.exists() and not path.is_dir():
            raise UserError(f"--out {path} is a file; pass a folder for the run")
        found = run_kind(path) if path.is_dir() else None
        if found is None and path.is_dir() and any(not p.name.startswith(".") for p in path.iterdir()):
            raise UserError(f"{path} is not empty and holds no darts-nexp run; pass a new or empty folder to --out")
        # Held before looking for a run in it, so that a run another process starts here meanwhile is seen.
        claim(path)
        found = run_kind(path)
        if found == kind and kind not in RESUMABLE and run_info(path).get("status") != "finished":
            # An evaluate or ensemble run that stopped (a full disk, Ctrl-C) holds nothing finished and cannot be
            # resumed: the command run again starts it afresh here, as the message of the failure says.
            found = None
        if found is not None:
            release(path)
            if found == kind:
                how = f"continue it with --resume {path}, or " if kind in RESUMABLE else ""
                raise UserError(f"{path} already holds {a_run(kind)}; {how}pass a new --out")
            raise UserError(f"{path} holds {a_run(found)}; {COMMANDS[kind]} does not write into it: pass a new --out")
        run = cls(path, kind)
        write_atomic(path / RUN_JSON, json.dumps({"kind": kind, "format": FORMAT, "status": "running",
                                                  "created": _now()}, indent=1) + "\n")
        return run

    def file(self, name: str) -> Path:
        return self.path / name

    def _mark(self, status: str, **more) -> None:
        if not self.writes:
            return
        info = _read_json(self.file(RUN_JSON)) if self.file(RUN_JSON).is_file() else {"kind": self.kind}
        info.update(format=FORMAT, status=status, **({"finished": _now()} if status == "finished" else {}), **more)
        # The CPU time of this process (all its threads) since the last record, added up over resumes: what the run
        # cost, which neither a pause nor another program on the machine inflates, as they do its wall time.
        now = time.process_time()
        info["cpu_seconds"] = round(info.get("cpu_seconds", 0.0) + now - self._cpu, 1)
        self._cpu = now
        write_atomic(self.file(RUN_JSON), json.dumps(info, indent=1) + "\n")

    def hold_searches(self, seeds: list[int]) -> None:
        """Mark a search run as the parent of one search per seed (in seed-<seed>/), which keeps no checkpoint of
        its own."""
        self._mark("running", searches=list(seeds))

    def begin(self) -> None:
        """Mark a resumed run as running again (a new run is marked so when created)."""
        self._mark("running")

    def finish(self) -> None:
        self._mark("finished")
        release(self.path)

    def save_config(self, cfg) -> Path:
        return self.write(CONFIG, dump_yaml(cfg))

    def write(self, name: str, data: str | bytes) -> Path:
        """Write one file of the run, atomically."""
        return write_atomic(self.file(name), data) if self.writes else self.file(name)

    def save_checkpoint(self, name: str, role: str, state: dict) -> Path:
        """Save `state` (every key of CHECKPOINT_KEYS[role]) as `name`, atomically."""
        missing = set(CHECKPOINT_KEYS[role]) - set(state)
        assert not missing, f"a {role} checkpoint needs {sorted(missing)}"
        if not self.writes:
            return self.file(name)
        data = io.BytesIO()
        torch.save({"format": FORMAT, "role": role, **state}, data)
        path = write_atomic(self.file(name), data.getvalue())
        self._mark("running")  # the CPU time so far, which a run killed before its end would otherwise lose
        return path

    @contextlib.contextmanager
    def guard(self, checkpoint: str, hint: str):
        """Turn Ctrl-C and a diverging loss into one message that names this run and what to do next."""
        try:
            yield
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted: finished epochs are checkpointed; continue with "
                              f"{COMMANDS[self.kind]} --resume {self.path}") from None
        except Diverged as e:
            kept = (f"the last good checkpoint {self.file(checkpoint)} is kept" if self.file(checkpoint).is_file()
                    else "no epoch finished, so there is no checkpoint")
            raise UserError(f"{e}; {hint}; {kept}, and no results were written from the diverged model") from None


# The folders this process holds (claim), by resolved path: one that it opens again (a resume after an error, in the
# same Python session) is its own, not another's.
_HELD: dict[Path, IO] = {}


def claim(path: Path, resume: bool = False) -> None:
    """Hold the folder `path` (made when missing) until release(path) or the end of this process, or refuse with one
    line while another darts-nexp process holds it: two commands writing one folder would mix their files."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteFailed(path, e).or_else("pass another --out") from None
    if path.resolve() in _HELD:
        return
    lock = lock_folder(path, wait=False)
    if lock is None:
        pid = lock_holder(path)
        raise UserError(f"{path} is in use by another darts-nexp process{f' (pid {pid})' if pid else ''}; wait for it"
                        + ("" if resume else " or pass another --out"))
    _HELD[path.resolve()] = lock


def release(path: Path) -> None:
    """Let other processes have the folder `path` again (claim)."""
    lock = _HELD.pop(Path(path).resolve(), None)
    if lock is not None:
        lock.close()


def history_file(kind: str) -> str:
    """The file of a run's epochs: a search's genotype_history.yaml, a training's history.yaml."""
    return HISTORY if kind == "search" else TRAIN_HISTORY


def run_history(run_dir: Path, kind: str) -> list[dict]:
    """The epochs of a finished run's history (history_file), or one message naming the file when it is lost or
    damaged."""
    path = Path(run_dir) / history_file(kind)
    hint = f"restore it, or move the {kind} run away so that it runs again"
    history = load_user_yaml(read_user_text(path, f"{kind} history", hint), path, hint)
    if not isinstance(history, list) or not history or not all(isinstance(e, dict) for e in history):
        raise UserError(f"{path} is damaged (not a list of epochs); {hint}")
    return history


def read_config(run_dir: str | Path) -> dict:
    """The config a run saved, as a mapping."""
    return read_yaml(Path(run_dir) / CONFIG)


def saved_config(run_dir: str | Path, kind: str) -> dict:
    """The config a run of `kind` saved, for `--resume`."""
    _resumable(Path(run_dir), kind, with_config=True)
    return read_config(run_dir)


# What a run of each kind holds once its first epoch is done: the checkpoint a resume continues from, and what its
# end reads (a training run scores best.pt). Any of them, or a search's history, shows that a run got that far.
AFTER_FIRST_EPOCH = {"search": (SEARCH_CHECKPOINT,), "train": (LAST, BEST)}


def past_first_epoch(path: Path, kind: str) -> bool:
    """Whether the run of `kind` in `path` finished, or got past its first epoch (a file of AFTER_FIRST_EPOCH or a
    search's history shows it), so that a file it lacks was lost rather than never written."""
    return run_info(path).get("status") == "finished" or any((Path(path) / name).is_file()
                                                             for name in (*AFTER_FIRST_EPOCH[kind], HISTORY))


def _resumable(path: Path, kind: str, with_config: bool = False) -> None:
    """Refuse, with the command to use instead, a --resume of anything but a run of `kind` (holding its config.yaml
    when `with_config`), and of a run that has lost a file it needs: a finished run without its checkpoints would
    otherwise start again from scratch and overwrite its results."""
    found = run_kind(path) if path.is_dir() else None
    if found is not None and found != kind:
        raise UserError(f"--resume {path}: that folder holds {a_run(found)}, not {a_run(kind)}; continue it "
                        f"with {COMMANDS[found]} --resume {path}")
    if found is None:
        raise UserError(f"--resume {path}: no {kind} run there; pass the folder of an earlier {COMMANDS[kind]} run")
    # splits.json too: the data check of a resume compares the images with it, and a run that went on without it
    # could go on, unchecked, on other images. The split is drawn from the seed, but from the images as well, and no
    # other file records which images those were.
    files = () if run_info(path).get("searches") else (*AFTER_FIRST_EPOCH[kind], SPLITS)
    past = past_first_epoch(path, kind)
    missing = [n for n in ([CONFIG] if with_config else []) + list(files if past else ()) if not (path / n).is_file()]
    if missing:
        raise UserError(f"--resume {path}: this {kind} run has lost {' and '.join(missing)} (deleted or moved?), so "
                        f"it cannot be continued; its other files are left as they are. Restore the file, or start "
                        f"a new run with another --out")
    if past and SPLITS in files:
        splits = _read_json(path / SPLITS)
        if not isinstance(splits, dict) or not isinstance(splits.get("ids"), dict):
            raise UserError(f"{path / SPLITS} is damaged (it lists no image ids), so nothing can check that the "
                            f"images are the run's; restore it, or start a new run with another --out")


def _upgrade(ckpt: dict) -> dict:
    """A format-1 checkpoint (darts-nexp 0.1.0) in today's format."""
    if "alphas" in ckpt:
        return {**ckpt, "format": FORMAT, "role": "search"}
    role = "last" if "optimizer" in ckpt else "best"
    out = {k: v for k, v in ckpt.items() if k not in ("model", "model_args", "genotype")}
    genotype = yaml.safe_load(ckpt["genotype"]) if isinstance(ckpt.get("genotype"), str) else ckpt.get("genotype")
    out.update(format=FORMAT, role=role, state_dict=ckpt.get("model"),
               model={"name": "darts", "args": ckpt.get("model_args"), "genotype": genotype})
    return out


RESUME_HINT = "resume from an earlier run, or start a new run"


def load_checkpoint(path: Path, roles: tuple[str, ...] = tuple(CHECKPOINT_KEYS), hint: str = RESUME_HINT) -> dict:
    """Read a checkpoint of one of `roles`, upgrading an older format; anything else is refused with a message
    that ends in `hint`, what the caller's user can do instead."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found; {hint}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise  # cli_entry names the path; "truncated" would send the user the wrong way
    except Exception as e:  # a truncated or foreign file: torch raises several unrelated types
        first = str(e).splitlines()[0] if str(e) else ""
        first = first if len(first) <= 100 else first[:100].rsplit(" ", 1)[0] + " ..."
        raise UserError(f"checkpoint {path} cannot be read ({type(e).__name__}: {first}); it is not a darts-nexp "
                        f"checkpoint, or it is truncated: {hint}") from None
    if not isinstance(ckpt, dict):
        raise UserError(f"{path} is not a darts-nexp checkpoint (it holds a {type(ckpt).__name__})")
    if "format" not in ckpt and ("alphas" in ckpt or "model_args" in ckpt):
        ckpt = _upgrade(ckpt)
    version, role = ckpt.get("format"), ckpt.get("role")
    if isinstance(version, int) and version > FORMAT:
        raise UserError(f"{path} was written by a newer darts-nexp (run format {version}, this one reads up to "
                        f"{FORMAT}); upgrade darts-nexp to read it")
    if version != FORMAT or role not in CHECKPOINT_KEYS:
        raise UserError(f"{path} is not a darts-nexp checkpoint; {hint}")
    if role not in roles:
        raise UserError(f"{path} is a {role} checkpoint; this command needs a {' or '.join(roles)} checkpoint: {hint}")
    missing = [k for k in CHECKPOINT_KEYS[role] if k not in ckpt]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}; it is damaged: {hint}")
    return ckpt


def trained_checkpoint(path: str | Path) -> Path:
    """A checkpoint file as given, or the best (else last) checkpoint of a training run directory."""
    path = Path(path)
    if not path.is_dir():
        return path
    kind = run_kind(path)
    if kind not in (None, "train"):
        raise UserError(f"{path} holds {a_run(kind)}, which has no trained network; pass the folder of a "
                        f"{COMMANDS['train']} run")
    for name in (BEST, LAST):
        if (path / name).is_file():
            return path / name
    raise UserError(f"{path} holds no {BEST} or {LAST}; pass a run directory of {COMMANDS['train']} or a "
                    f"checkpoint file")
