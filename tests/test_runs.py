"""The run format: run kinds, refusals that protect finished work, checkpoint versions, divergence and Ctrl-C."""
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from test_data_util import fails, make_layout

import darts_nexp.engine.train as train_cli
from darts_nexp.cli.search import main as search
from darts_nexp.cli.train import main as train
from darts_nexp.errors import UserError
from darts_nexp.evaluate import main as evaluate
from darts_nexp.explain import main as explain
from darts_nexp.models import load_model
from darts_nexp.loops import check_loss
from darts_nexp.runs import FORMAT, Run, load_checkpoint, run_kind, trained_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "configs" / "smoke.yaml")
V1 = str(ROOT / "genotypes" / "darts_v1.yaml")
TINY = ["--config", SMOKE, "--epochs", "1", "--progress", "false", "--data.image-size", "16", "16"]


def search_args(data, out, *extra):
    return [*TINY, "--data-dir", str(data), "--out", str(out), "--order", "first",
            "--genotype-out", str(Path(out).parent / "exported.yaml"), *extra]


def train_args(data, out, *extra):
    return [*TINY, "--data-dir", str(data), "--out", str(out), "--genotype", V1, "--layers", "2", *extra]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished one-epoch search and a finished one-epoch training run on the smoke synthetic set."""
    base = tmp_path_factory.mktemp("runs")
    search(search_args(base / "data", base / "search"))
    train(train_args(base / "data", base / "train"))
    return base


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_each_run_records_its_kind_and_status(runs):
    for kind in ("search", "train"):
        info = json.loads((runs / kind / "run.json").read_text())
        assert (info["kind"], info["format"], info["status"]) == (kind, FORMAT, "finished") and "finished" in info
        assert run_kind(runs / kind) == kind


def test_a_training_keeps_its_epochs_as_text_and_its_score_reads_without_the_checkpoints(runs, tmp_path):
    import shutil

    from darts_nexp.engine.select import retrain_val_auc

    run = shutil.copytree(runs / "train", tmp_path / "train")
    epochs = yaml.safe_load((run / "history.yaml").read_text())
    assert [e["epoch"] for e in epochs] == [1] and {"train_loss", "val_loss", "val_auc", "lr"} <= set(epochs[0])
    best = load_checkpoint(run / "best.pt", ("best",))["val_auc"]
    assert retrain_val_auc(run) == pytest.approx(best)
    for name in ("best.pt", "last.pt"):
        (run / name).unlink()
    assert retrain_val_auc(run) == pytest.approx(best)


def test_a_run_records_the_cpu_time_it_used_and_not_its_pauses(tmp_path):
    import time

    from darts_nexp.engine.select import core_seconds

    run = Run.open(str(tmp_path / "run"), "evaluate")
    time.sleep(0.5)  # a pause: wall time, no CPU time
    busy = time.process_time() + 0.3
    while time.process_time() < busy:
        pass
    run.finish()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert 0.25 <= info["cpu_seconds"] < 0.45
    assert core_seconds(tmp_path / "run") == info["cpu_seconds"]


@pytest.mark.parametrize("command,args,into,message", [
    (train, train_args, "search", "holds a search run; darts-nexp train does not write into it"),
    (search, search_args, "train", "holds a train run; darts-nexp search does not write into it"),
    (train, train_args, "train", "already holds a train run; continue it with --resume"),
    (search, search_args, "search", "already holds a search run; continue it with --resume"),
])
def test_no_command_writes_into_another_run(runs, capsys, command, args, into, message):
    before = snapshot(runs / into)
    line = fails(capsys, command, args(runs / "data", runs / into), runs / into)
    assert message in line
    assert snapshot(runs / into) == before  # config.yaml, splits.json, checkpoints: untouched


def test_evaluate_writes_into_no_run(runs, capsys):
    before = snapshot(runs / "train")
    fails(capsys, evaluate, [runs / "train", "--data-dir", runs / "data" / "test", "--out", runs / "train"],
          "holds a train run")
    fails(capsys, evaluate, [runs / "search", "--data-dir", runs / "data" / "test"], "holds a search run",
          "no trained network")
    assert snapshot(runs / "train") == before


def test_resume_of_the_wrong_kind(runs, capsys):
    fails(capsys, search, ["--resume", runs / "train"], "holds a train run", "darts-nexp train --resume")
    fails(capsys, train, ["--resume", runs / "search"], "holds a search run", "darts-nexp search --resume")


def test_a_refused_resume_changes_nothing(runs, tmp_path, capsys):
    before = snapshot(runs / "train")
    fails(capsys, train, ["--resume", runs / "train", "--layers", "3"], "--layers 3 (the run has 2)",
          "cannot change on --resume")
    fails(capsys, train, ["--resume", runs / "train", "--data.image-size", "16", "20"], "--data.image-size")
    assert snapshot(runs / "train") == before and json.loads((runs / "train" / "run.json").read_text())[
        "status"] == "finished"


@pytest.mark.parametrize("kind,lost", [("search", "checkpoint.pt"), ("train", "last.pt"), ("train", "best.pt"),
                                       ("train", "config.yaml"), ("search", "config.yaml")])
def test_a_finished_run_that_lost_a_file_is_not_run_again(runs, tmp_path, capsys, kind, lost):
    """Without the refusal a finished run missing its checkpoint would start from scratch and overwrite its results
    (and one missing best.pt would be marked running before failing)."""
    run = tmp_path / kind
    run.mkdir()
    for name, data in snapshot(runs / kind).items():
        if name != lost:
            (run / name).write_bytes(data)
    before = snapshot(run)
    fails(capsys, search if kind == "search" else train, ["--resume", run, "--progress", "false"],
          f"this {kind} run has lost {lost}", "start a new run")
    assert snapshot(run) == before
    if kind == "train" and lost != "last.pt":  # the commands that study a trained run say the same
        fails(capsys, explain, [run, "--device", "cpu"], f"has lost {lost}")


@pytest.mark.parametrize("kind,lost", [("search", "checkpoint.pt"), ("train", "last.pt")])
def test_a_crashed_run_that_lost_its_checkpoint_is_not_run_again(runs, tmp_path, capsys, kind, lost):
    """Killed (run.json still says running) after epochs whose history or best.pt remain: not a fresh run."""
    run = tmp_path / kind
    run.mkdir()
    for name, data in snapshot(runs / kind).items():
        if name != lost:
            (run / name).write_bytes(data)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "running"}))
    before = snapshot(run)
    fails(capsys, search if kind == "search" else train, ["--resume", run, "--progress", "false"],
          f"this {kind} run has lost {lost}")
    assert snapshot(run) == before


def test_evaluate_refuses_before_making_a_folder(runs, tmp_path, capsys):
    torch.save(load_checkpoint(runs / "train" / "last.pt", ("last",)), tmp_path / "last.pt")
    fails(capsys, evaluate, [tmp_path / "last.pt", "--data-dir", runs / "data" / "test", "--out", tmp_path / "out",
                             "--threshold-cost-ratio", "5"], "no validation scores")
    assert not (tmp_path / "out").exists()


def test_a_folder_of_other_files_is_never_a_run(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    fails(capsys, train, train_args(tmp_path / "data", tmp_path), "is not empty and holds no darts-nexp run")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is a file"):
        Run.open(str(tmp_path / "file"), "train")


def test_bad_data_leaves_no_run_folder_behind(tmp_path, capsys):
    fails(capsys, search, [*TINY, "--dataset", "nexperia", "--data-dir", tmp_path / "nothing", "--out",
                           tmp_path / "run"], tmp_path / "nothing")
    assert not (tmp_path / "run").exists()


def test_format_1_checkpoints_are_upgraded(runs, tmp_path):
    """A darts-nexp 0.1.0 best.pt (genotype as YAML text, no format tag) still loads and rebuilds its network."""
    best = load_checkpoint(runs / "train" / "best.pt", ("best",))
    old = {k: v for k, v in best.items() if k not in ("format", "role", "model", "state_dict")}
    old.update(model=best["state_dict"], model_args=best["model"]["args"],
               genotype=yaml.safe_dump(best["model"]["genotype"]))
    torch.save(old, tmp_path / "best.pt")
    upgraded = load_checkpoint(tmp_path / "best.pt", ("best",))
    assert upgraded["role"] == "best" and upgraded["model"]["genotype"] == best["model"]["genotype"]
    x = torch.randn(2, 1, 16, 16)
    assert torch.equal(load_model(upgraded)(x), load_model(best)(x))


@pytest.mark.parametrize("state,message", [
    ({"format": FORMAT + 1, "role": "best"}, "newer darts-nexp"),
    ({"weights": 1}, "not a darts-nexp checkpoint"),
    ({"format": FORMAT, "role": "best", "epoch": 0}, "lacks model"),
])
def test_foreign_or_future_checkpoints_are_refused(tmp_path, state, message):
    torch.save(state, tmp_path / "x.pt")
    with pytest.raises(UserError, match=message):
        load_checkpoint(tmp_path / "x.pt")


def test_a_checkpoint_of_the_wrong_role_is_refused(runs):
    with pytest.raises(UserError, match="is a search checkpoint; this command needs a best or last"):
        load_checkpoint(runs / "search" / "checkpoint.pt", ("best", "last"))
    assert trained_checkpoint(runs / "train") == runs / "train" / "best.pt"


@pytest.mark.parametrize("command,args,results", [
    (search, search_args, {"genotype.yaml", "checkpoint.pt", "normal.gv"}),  # a train run's genotype.yaml is its input
    (train, train_args, {"metrics.json", "predictions.csv", "roc.png", "best.pt"}),
])
def test_a_diverging_run_stops_with_one_message(tmp_path, capsys, command, args, results):
    line = fails(capsys, command, args(tmp_path / "data", tmp_path / "run", "--lr", "1e6"), "epoch 1",
                 "--lr, now 1e+06", "no epoch finished")
    assert "diverged" in line
    assert not results & {p.name for p in (tmp_path / "run").iterdir()}
    assert not (tmp_path / "exported.yaml").exists()


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    real_epoch = train_cli.train_epoch

    def nan_in_epoch_2(*args, epoch, **kwargs):
        if epoch == 2:
            check_loss(math.nan, "train loss", epoch)
        return real_epoch(*args, epoch=epoch, **kwargs)

    monkeypatch.setattr(train_cli, "train_epoch", nan_in_epoch_2)
    out = tmp_path / "run"
    fails(capsys, train, train_args(tmp_path / "data", out, "--epochs", "2"), "epoch 2",
          f"the last good checkpoint {out / 'last.pt'} is kept")
    assert load_checkpoint(out / "last.pt", ("last",))["epoch"] == 0 and not (out / "metrics.json").exists()


def test_interrupt_names_the_run_to_resume(tmp_path, capsys, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "train_epoch", interrupt)
    with pytest.raises(SystemExit) as e:
        train(train_args(tmp_path / "data", tmp_path / "run"))
    assert e.value.code == 130
    assert f"continue with darts-nexp train --resume {tmp_path / 'run'}" in capsys.readouterr().err


def test_evaluate_of_a_folder_without_one_readable_image(runs, tmp_path, capsys):
    folder = tmp_path / "broken"
    folder.mkdir()
    for i in range(3):
        (folder / f"b{i}.png").write_bytes(b"not a png")
    fails(capsys, evaluate, [runs / "train", "--data-dir", folder], str(folder), "could be read")
    make_layout(tmp_path / "ok", n_good=2, n_defect=2)
    assert evaluate([str(runs / "train"), "--data-dir", str(tmp_path / "ok"), "--out", str(tmp_path / "scored")])
