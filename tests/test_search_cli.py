"""search.py end to end on the smoke config: every artifact, exact resume, clean errors."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.checkpoint import checkpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import darts_nexp.engine.search as search_cli
from darts_nexp.cli.search import main
from darts_nexp.runs import load_checkpoint
from darts_nexp.space import Genotype, ops

SMOKE = str(Path(__file__).resolve().parents[1] / "configs/smoke.yaml")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("synthetic")


def smoke_args(data_dir, run_dir, *extra):
    return ["--config", SMOKE, "--data-dir", str(data_dir), "--device", "cpu", "--out", str(run_dir),
            "--genotype-out", str(Path(run_dir) / "export" / "g.yaml"), "--progress", "false",
            "--data.image-size", "16", "16", *extra]  # smoke config, at a quarter of its pixels


@pytest.fixture(scope="module")
def finished_run(data_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    result = main(smoke_args(data_dir, run_dir))
    return run_dir, result


def test_smoke_search_writes_every_artifact(finished_run, capsys):
    run_dir, result = finished_run
    for name in ("config.yaml", "checkpoint.pt", "genotype.yaml", "genotype_history.yaml", "normal.gv", "reduce.gv"):
        assert (run_dir / name).is_file(), name
    if shutil.which("dot"):
        assert all((run_dir / f"{cell}.{fmt}").stat().st_size > 0 for cell in ("normal", "reduce")
                   for fmt in ("svg", "png"))
    export = run_dir / "export" / "g.yaml"
    assert result.genotype_path == export and Genotype.load(export) == Genotype.load(run_dir / "genotype.yaml")
    last = Genotype.from_dict(result.history[-1]["genotype"])
    assert len(result.history) == 2 and (last.normal, last.reduce) == (result.genotype.normal, result.genotype.reduce)
    peaks = [h["peak_mb"] for h in result.history]  # this process's peak so far: positive, never falling
    assert 0 < peaks[0] <= peaks[1]
    state = load_checkpoint(run_dir / "checkpoint.pt")
    assert state["epoch"] == 1 and set(state["alphas"]) == {"alpha_normal", "alpha_reduce"}
    assert not any(k.startswith("alpha") for k in state["weights"])
    events = EventAccumulator(str(run_dir))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    for tag in ("loss/train", "loss/val", "auc/train", "auc/val", "lr/weights", "lr/alphas",
                "alpha_normal/0->2/sep_conv_3x3", "alpha_reduce/4->5/none"):
        assert tag in scalars, tag
    assert len(events.Scalars("loss/val")) == 2
    assert "genotype/text_summary" in events.Tags()["tensors"]


def test_resume_equals_uninterrupted_run(finished_run, data_dir, tmp_path, monkeypatch, capsys):
    """The resumed half runs with grad checkpointing, which recomputes each op in the backward pass and changes no
    number."""
    run_dir, uninterrupted = finished_run
    epochs_run = []

    def interrupted_epoch(*args, **kwargs):
        if len(epochs_run) == 1:
            raise KeyboardInterrupt
        epochs_run.append(1)
        return search_epoch(*args, **kwargs)

    search_epoch = search_cli.search_epoch
    monkeypatch.setattr(search_cli, "search_epoch", interrupted_epoch)
    with pytest.raises(SystemExit) as stop:
        main(smoke_args(data_dir, tmp_path))
    assert stop.value.code == 130 and load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 0
    assert f"darts-nexp search --resume {tmp_path}" in capsys.readouterr().err
    monkeypatch.setattr(search_cli, "search_epoch", search_epoch)
    recomputed = []
    monkeypatch.setattr(ops, "checkpoint", lambda *a, **k: recomputed.append(1) or checkpoint(*a, **k))
    resumed = main(["--resume", str(tmp_path), "--progress", "false", "--grad-checkpointing", "true"])
    assert recomputed
    for name, alpha in uninterrupted.alphas.items():
        assert torch.equal(resumed.alphas[name], alpha), name
    assert resumed.genotype == uninterrupted.genotype
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in uninterrupted.history]


@pytest.mark.parametrize("args,message", [
    (["--dataset", "nexperia", "--data-dir", "/no/such/folder"], "/no/such/folder"),
    (["--order", "third"], "--order"),
    (["--resume", "/no/such/run"], "/no/such/run"),
    (["--config", "/no/such.yaml"], "/no/such.yaml"),
    (["--grad-checkpointing", "true", "--compile", "true"], "--grad-checkpointing and --compile"),
])
def test_bad_input_is_a_clean_error(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(args + ["--epochs", "1", "--progress", "false"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu_is_a_clean_error(data_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(smoke_args(data_dir, tmp_path, "--device", "cuda"))
    assert stop.value.code == 2 and "--device cpu" in capsys.readouterr().err


def test_a_finished_run_is_never_overwritten(finished_run, data_dir, capsys):
    run_dir, _ = finished_run
    before = (run_dir / "checkpoint.pt").read_bytes()
    with pytest.raises(SystemExit) as stop:
        main(smoke_args(data_dir, run_dir))
    assert stop.value.code == 2 and f"--resume {run_dir}" in capsys.readouterr().err
    assert (run_dir / "checkpoint.pt").read_bytes() == before


def test_a_reader_that_stops_early_gets_no_traceback():
    """`search.py --help | head`: the pipe closes before the help is written."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, str(root / "search.py"), "--help"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # long before the interpreter has imported torch and printed anything
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1 and err == "", err


def test_an_unwritable_genotype_out_is_refused_before_the_search(data_dir, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for export in (tmp_path / "afile" / "g.yaml", tmp_path):  # under a file; a folder
        args = smoke_args(data_dir, tmp_path / "run")
        args[args.index("--genotype-out") + 1] = str(export)
        with pytest.raises(SystemExit):
            main(args)
        assert "pass a writable file path to --genotype-out" in capsys.readouterr().err
        assert not (tmp_path / "run").exists()
