"""The holes of issue 21 (parts 3 and 4), each driven through the real command: one `error:` line naming the file or
value, exit status 2, and nothing finished lost. Lost or damaged run files at resume and at evaluate, a malformed
predictions.csv in an ensemble, split fractions of 0, bad input under torchrun, config keys that only other commands
take, and two commands writing one folder at once; then the neighbours those left open: a lock file that cannot be
written, best.pt at resume, splits.json in the tools that study a run, an ensemble member without its test scores,
and an evaluate or ensemble run again after a full disk."""
import errno
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_data_util import fails
from test_disk_full import fail_write
from test_runs import runs, search_args, snapshot, train_args  # noqa: F401 (runs: a fixture, used by name)

import darts_nexp.io
from darts_nexp.cli.derive import main as derive
from darts_nexp.cli.ensemble import main as ensemble
from darts_nexp.cli.entry import cli_entry
from darts_nexp.cli.explain import main as explain
from darts_nexp.cli.export import main as export
from darts_nexp.cli.features import main as features
from darts_nexp.cli.protocol import main as protocol
from darts_nexp.cli.search import main as search
from darts_nexp.cli.train import main as train
from darts_nexp.errors import Diverged
from darts_nexp.evaluate import main as evaluate
from darts_nexp.io import lock_folder
from darts_nexp.runs import run_info

ROOT = Path(__file__).resolve().parents[1]
V1 = str(ROOT / "genotypes" / "darts_v1.yaml")


def copy_run(runs: Path, kind: str, to: Path) -> Path:
    shutil.copytree(runs / kind, to)
    return to


def resume(kind: str):
    return search if kind == "search" else train


# --- a lost or damaged splits.json at resume -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["search", "train"])
@pytest.mark.parametrize("damage,message", [
    (None, "has lost splits.json"),
    ("{not json", "splits.json is damaged (JSONDecodeError)"),
    ('{"seed": 0, "kind": "train"}', "splits.json is damaged (it lists no image ids)"),
])
def test_a_resume_without_a_readable_splits_json_is_refused(runs, tmp_path, capsys, kind, damage, message):
    """Rewriting it would skip the data check: the run could go on, unchecked, on other images."""
    run = copy_run(runs, kind, tmp_path / kind)
    if damage is None:
        (run / "splits.json").unlink()
    else:
        (run / "splits.json").write_text(damage)
    before = snapshot(run)
    fails(capsys, resume(kind), ["--resume", run, "--progress", "false"], message, "start a new run")
    assert snapshot(run) == before


# --- other run files, lost or damaged, at resume and at evaluate ----------------------------------------------------

def test_a_damaged_config_yaml_at_resume_names_it(runs, tmp_path, capsys):
    run = copy_run(runs, "train", tmp_path / "train")
    (run / "config.yaml").write_text("epochs: [1\n")
    fails(capsys, train, ["--resume", run], run / "config.yaml", "not valid YAML")
    (run / "config.yaml").write_text("- a list\n")
    fails(capsys, train, ["--resume", run], run / "config.yaml")


@pytest.mark.parametrize("kind,name", [("search", "checkpoint.pt"), ("train", "last.pt")])
def test_a_truncated_checkpoint_at_resume_names_it(runs, tmp_path, capsys, kind, name):
    run = copy_run(runs, kind, tmp_path / kind)
    (run / name).write_bytes((run / name).read_bytes()[:1000])
    before = snapshot(run)
    fails(capsys, resume(kind), ["--resume", run, "--progress", "false"], run / name, "truncated")
    assert snapshot(run) == before


def test_evaluate_names_a_truncated_best_pt_and_a_damaged_run_json(runs, tmp_path, capsys):
    run = copy_run(runs, "train", tmp_path / "train")
    images = ["--data-dir", runs / "data" / "test", "--out", tmp_path / "scored"]
    (run / "best.pt").write_bytes((run / "best.pt").read_bytes()[:1000])
    fails(capsys, evaluate, [run, *images], run / "best.pt", "truncated")
    (run / "run.json").write_text("{")
    fails(capsys, evaluate, [run, *images], run / "run.json", "damaged")
    fails(capsys, train, ["--resume", run], run / "run.json", "damaged")
    assert not (tmp_path / "scored").exists()


def test_a_kept_search_that_lost_its_history_is_named(runs, tmp_path, capsys):
    """A multi-seed search run again keeps its finished searches, reading their genotype_history.yaml."""
    out = tmp_path / "multi"
    args = search_args(runs / "data", out, "--search-seeds", "0", "1", "--select-by", "supernet")  # no short trainings
    search(args)
    again = ["--resume", out, "--progress", "false"]
    history = out / "seed-1" / "genotype_history.yaml"
    history.write_text("epochs: [1\n")
    fails(capsys, search, again, history, "not valid YAML")
    history.write_text("just text\n")
    fails(capsys, search, again, history, "damaged")
    history.unlink()
    fails(capsys, search, again, history, "not found")


# --- a malformed predictions.csv in an ensemble ----------------------------------------------------------------------

def replaced(rows: list[str], n: int, column: int, value: str) -> list[str]:
    """The CSV lines `rows` with cell `column` of line `n` (both from 0) replaced by `value`."""
    cells = rows[n].split(",")
    return rows[:n] + [",".join(cells[:column] + [value] + cells[column + 1:])] + rows[n + 1:]


@pytest.mark.parametrize("edit,names", [
    (lambda rows: rows[:-1], ["ends at line", "cut short"]),
    (lambda rows: replaced(rows, 3, 0, "x"), ["line 4, column id: 'x'"]),
    (lambda rows: rows[:2] + [rows[2] + ",7"] + rows[3:], ["line 3 has 6 column(s), expected 5"]),
    (lambda rows: replaced(rows, 2, 2, "high"), ["line 3, column defect_score: 'high'"]),
    (lambda rows: replaced(rows, 2, 1, "2"), ["line 3, column label: '2'"]),
    (lambda rows: ["id;label;defect_score"] + rows[1:], ["line 1 must be the header id,label,defect_score"]),
])
def test_a_malformed_predictions_csv_is_named_with_its_line(runs, tmp_path, capsys, edit, names):
    """Not "scored on different test images": the file itself is wrong, and the message says where."""
    a, b = copy_run(runs, "train", tmp_path / "a"), copy_run(runs, "train", tmp_path / "b")
    rows = (b / "predictions.csv").read_text().splitlines()
    (b / "predictions.csv").write_text("\n".join(edit(rows)) + "\n")
    line = fails(capsys, ensemble, [a, b, "--out", tmp_path / "ensemble"], b / "predictions.csv", "is malformed",
                 *names)
    assert "different" not in line and not (tmp_path / "ensemble").exists()
    (b / "predictions.csv").write_text("\n".join(rows) + "\n")
    assert ensemble([str(a), str(b), "--out", str(tmp_path / "ensemble"), "--weights", "equal"])


# --- split fractions of 0 --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flag,value", [("--data.val-fraction", "0"), ("--data.test-fraction", "0"),
                                        ("--data.val-fraction", "0.5"), ("--data.test-fraction", "-0.1")])
def test_a_split_fraction_out_of_range_is_refused_before_the_data_are_read(tmp_path, capsys, flag, value):
    fails(capsys, train, [*train_args(tmp_path / "data", tmp_path / "run"), flag, value],
          f"{flag} {float(value)}", "above 0 and below 0.5")
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()


# --- bad input under torchrun ----------------------------------------------------------------------------------------

@pytest.fixture
def rank(monkeypatch):
    """Set this process's rank the way torchrun does (two ranks); the log level the other ranks get is undone."""
    def place(n: int):
        for name, value in (("RANK", n), ("LOCAL_RANK", n), ("WORLD_SIZE", 2)):
            monkeypatch.setenv(name, str(value))

    yield place
    logging.getLogger("darts_nexp").setLevel(logging.NOTSET)


def test_only_rank_0_reports_bad_input(rank, tmp_path, capsys):
    argv = [*train_args(tmp_path / "data", tmp_path / "run"), "--data.val-fraction", "0"]
    rank(1)
    with pytest.raises(SystemExit) as e:
        train(argv)
    assert e.value.code == 2 and capsys.readouterr().err == ""
    rank(0)
    fails(capsys, train, argv, "--data.val-fraction 0.0")


def test_an_error_of_one_rank_alone_is_reported_by_that_rank(rank, capsys):
    @cli_entry
    def diverges():
        raise Diverged("the train loss became nan in epoch 1: the run diverged")

    rank(1)
    fails(capsys, lambda argv: diverges(), [], "the run diverged")


# --- config keys that only other commands take -----------------------------------------------------------------------

def test_a_key_only_other_commands_take_is_noted(tmp_path, capsys, caplog):
    """The file may serve evaluate too, so data_dir there is a note for train, naming train's own data.data_dir."""
    path = tmp_path / "shared.yaml"
    path.write_text("data_dir: somewhere\nthreshold: 0.3\ndata: {image_size: [32, 32]}\n")
    with caplog.at_level(logging.WARNING, "darts_nexp"):
        train(["--config", str(path), "--genotype", V1, "--summary"])
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("note:")]
    assert len(notes) == 1 and str(path) in notes[0], notes
    assert "darts-nexp train ignores the top-level data_dir (taken by evaluate" in notes[0]
    assert "train takes data.data_dir" in notes[0] and "threshold (taken by evaluate)" in notes[0]
    path.write_text("data_dirr: somewhere\n")
    fails(capsys, train, ["--config", path, "--genotype", V1, "--summary"], path, "unknown key(s) data_dirr")


# --- two commands into one folder at once ----------------------------------------------------------------------------

@pytest.fixture
def held(tmp_path):
    """A folder that another process holds, as a running darts-nexp command does (darts_nexp.io.lock_folder)."""
    folder = tmp_path / "busy"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from darts_nexp.io import lock_folder; "
                               "lock = lock_folder(sys.argv[1]); print('held', flush=True); time.sleep(600)",
                               str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    yield folder, holder
    holder.kill()
    holder.wait()


def test_a_folder_in_use_by_another_process_is_refused(runs, held, tmp_path, capsys):
    folder, holder = held
    in_use = f"{folder} is in use by another darts-nexp process (pid {holder.pid}); wait for it"
    for command, argv in [
        (search, search_args(runs / "data", folder)),
        (train, train_args(runs / "data", folder)),
        (evaluate, [runs / "train", "--data-dir", runs / "data" / "test", "--out", folder]),
        (protocol, ["--out", folder, "--n-random", "0", "--published", V1]),
    ]:
        assert fails(capsys, command, argv, in_use).endswith("or pass another --out")
    assert [p.name for p in folder.iterdir()] == [".lock"]  # nothing written by the refused commands

    run = copy_run(runs, "train", tmp_path / "running")
    with lock_folder(run):  # a resume while the run goes on: the lock cannot tell this process from another one
        before = snapshot(run)
        assert fails(capsys, train, ["--resume", run], f"{run} is in use").endswith("wait for it")
        assert snapshot(run) == before


def test_the_lock_goes_with_its_process_and_dot_files_leave_a_folder_empty(runs, held, capsys):
    folder, holder = held
    holder.kill()
    holder.wait()
    (folder / ".DS_Store").write_text("")
    result = evaluate([str(runs / "train"), "--data-dir", str(runs / "data" / "test"), "--out", str(folder)])
    assert result["out"] == folder and json.loads((folder / "run.json").read_text())["status"] == "finished"
    fails(capsys, evaluate, [runs / "train", "--data-dir", runs / "data" / "test", "--out", folder],
          "already holds an evaluate run")


# --- a lock file that cannot be written ------------------------------------------------------------------------------

@pytest.mark.parametrize("code,remedy", [(errno.ENOSPC, "free space"), (errno.EROFS, "make {folder} writable")])
def test_a_lock_file_that_cannot_be_written_gives_one_line(runs, tmp_path, monkeypatch, capsys, code, remedy):
    """The .lock of a new run folder, of a resumed one and of a synthetic set being made (a full disk, a read-only
    folder): the folder is left as it was, and the command run again once the cause is gone goes through."""
    real_open = open

    def no_lock(path, *args, **kwargs):
        if Path(path).name == ".lock":
            raise OSError(code, os.strerror(code))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(darts_nexp.io, "open", no_lock, raising=False)
    new, data = tmp_path / "new", tmp_path / "data"  # a new run folder; a synthetic set to be made
    for argv, folder in [(train_args(runs / "data", new), new), (train_args(data, new), data)]:
        line = fails(capsys, train, argv, f"cannot write {folder / '.lock'} ({os.strerror(code)}; ")
        assert line.endswith(f"; {remedy.format(folder=folder)} and run the command again")
        assert list(folder.iterdir()) == []
    run = copy_run(runs, "train", tmp_path / "resumed")
    before = snapshot(run)
    fails(capsys, train, ["--resume", run], f"cannot write {run / '.lock'}", "run the command again")
    assert snapshot(run) == before
    monkeypatch.undo()
    train([str(a) for a in train_args(runs / "data", new)])
    assert run_info(new)["status"] == "finished"


# --- best.pt at resume -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage,message", [("truncated", "truncated"), ("last.pt", "is a last checkpoint")])
def test_a_damaged_best_pt_at_resume_leaves_the_finished_run_as_it_was(runs, tmp_path, capsys, damage, message):
    """The end of a resumed run scores best.pt: it is read first, so a refusal does not leave the run marked running
    (nor config.yaml and genotype.yaml written again)."""
    run = copy_run(runs, "train", tmp_path / "train")
    data = (run / "best.pt").read_bytes()[:1000] if damage == "truncated" else (run / "last.pt").read_bytes()
    (run / "best.pt").write_bytes(data)
    before = snapshot(run)
    fails(capsys, train, ["--resume", run, "--progress", "false"], run / "best.pt", message)
    assert snapshot(run) == before and run_info(run)["status"] == "finished"


# --- splits.json in the tools that study a run -----------------------------------------------------------------------

@pytest.mark.parametrize("damage,message", [
    (None, "has lost splits.json (deleted or moved?)"),
    ("{not json", "splits.json is damaged"),
    ('{"seed": 0, "kind": "train"}', "splits.json is damaged"),
])
def test_the_tools_refuse_a_run_without_a_readable_splits_json(runs, tmp_path, capsys, damage, message):
    """explain, features, export, ensemble and derive read the run's own images, which only splits.json records:
    without it they would go on, unchecked, on whatever images the data folder holds now."""
    trained, searched = copy_run(runs, "train", tmp_path / "train"), copy_run(runs, "search", tmp_path / "search")
    for run in (trained, searched):
        if damage is None:
            (run / "splits.json").unlink()
        else:
            (run / "splits.json").write_text(damage)
    before = {run: snapshot(run) for run in (trained, searched)}
    for command, argv in [
        (explain, [trained, "--device", "cpu", "--progress", "false"]),
        (features, [trained, "--device", "cpu"]),
        (export, [trained, "--out", tmp_path / "model.onnx"]),
        (ensemble, [trained, runs / "train", "--out", tmp_path / "ensemble"]),
        (derive, [searched, "--derive-images", "16", "--derive-tune-steps", "1", "--device", "cpu", "--progress",
                  "false"]),
    ]:
        fails(capsys, command, argv, message, "restore it")
    assert {run: snapshot(run) for run in (trained, searched)} == before
    assert not [p for p in (trained / "explain", trained / "features", tmp_path / "model.onnx",
                            tmp_path / "ensemble", searched / "perturbation") if p.exists()]


# --- an ensemble member without its test scores ----------------------------------------------------------------------

def test_ensemble_names_a_lost_predictions_csv_and_how_to_score_it_again(runs, tmp_path, capsys):
    a, b = copy_run(runs, "train", tmp_path / "a"), copy_run(runs, "train", tmp_path / "b")
    (b / "predictions.csv").unlink()
    argv = [a, b, "--out", tmp_path / "ensemble"]
    line = fails(capsys, ensemble, argv, f"{b} has lost predictions.csv", f"darts-nexp train --resume {b}")
    assert "has not finished" not in line
    train(["--resume", str(b), "--progress", "false"])  # no epoch left: it scores best.pt on the test split again
    assert ensemble([str(x) for x in argv])["out"] == tmp_path / "ensemble"

    config = yaml.safe_load((b / "config.yaml").read_text())
    (b / "config.yaml").write_text(yaml.safe_dump({**config, "test": False}))
    (b / "predictions.csv").unlink()
    fails(capsys, ensemble, [a, b, "--out", tmp_path / "again"], f"{b} was trained with --test false",
          "pass runs trained with --test true")


# --- an evaluate or ensemble run again after a full disk -------------------------------------------------------------

@pytest.mark.parametrize("kind,name", [("evaluate", "submission.csv"), ("ensemble", "ensemble.json")])
def test_an_evaluate_or_ensemble_stopped_by_a_full_disk_runs_again_into_its_out(runs, tmp_path, monkeypatch, capsys,
                                                                                 kind, name):
    """"free space and run the command again" is true: a run of a kind that cannot be resumed and never finished
    holds nothing finished, and the same command starts it afresh; a finished one is never written over."""
    out = tmp_path / "out"
    if kind == "evaluate":
        command, argv = evaluate, [runs / "train", "--data-dir", runs / "data" / "test", "--out", out]
    else:
        command, argv = ensemble, [runs / "train", copy_run(runs, "train", tmp_path / "b"), "--out", out]
    fail_write(monkeypatch, name)
    line = fails(capsys, command, argv, f"cannot write {out / name} (No space left on device; ")
    assert line.endswith("; free space and run the command again") and run_info(out)["status"] == "running"
    monkeypatch.undo()
    assert command([str(a) for a in argv])["out"] == out and run_info(out)["status"] == "finished"
    fails(capsys, command, argv, f"{out} already holds an {kind} run")
