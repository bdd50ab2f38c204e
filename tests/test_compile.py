"""--compile: search.py and train_final.py run their networks through torch.compile and compute what they compute
without it, with checkpoints that do not depend on it.

On the CPU, inductor's code generation costs minutes, so these tests compile with the aot_eager backend: dynamo
captures the graphs and AOTAutograd derives their backward passes, which is where a network that cannot be compiled
breaks, without generating code. The speed it buys on a GPU is measured in docs/benchmarks.md."""
from pathlib import Path

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

import darts_nexp.cli.search as search_cli
import darts_nexp.cli.train as train_cli
from darts_nexp.runs import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "configs" / "smoke.yaml")


@pytest.fixture
def aot_eager(monkeypatch):
    """torch.compile with the aot_eager backend; yields the functions that were compiled."""
    real, compiled = torch.compile, []

    def compile(fn, *args, **kwargs):
        compiled.append(getattr(fn, "__name__", fn))
        return real(fn, *args, **{**kwargs, "backend": "aot_eager"})

    monkeypatch.setattr(torch, "compile", compile)
    torch._dynamo.reset()
    counters.clear()
    yield compiled
    torch._dynamo.reset()


def test_a_compiled_search_finds_what_an_eager_one_finds(tmp_path, aot_eager):
    def search(name, *flags):
        return search_cli.main(["--config", SMOKE, "--data-dir", str(tmp_path / "data"), "--device", "cpu",
                                "--out", str(tmp_path / name), "--genotype-out", str(tmp_path / f"{name}.yaml"),
                                "--progress", "false", "--data.image-size", "16", "16", "--epochs", "1",
                                "--order", "second", "--layers", "2", "--nodes", "2", *flags])

    eager = search("eager")
    assert not aot_eager
    compiled = search("compiled", "--compile", "true")
    assert aot_eager and counters["stats"]["unique_graphs"] > 0  # the supernet really ran as captured graphs
    for name, alpha in eager.alphas.items():
        torch.testing.assert_close(compiled.alphas[name], alpha, rtol=0, atol=1e-5)
    keys = [set(load_checkpoint(tmp_path / run / "checkpoint.pt")["weights"]) for run in ("eager", "compiled")]
    assert keys[0] == keys[1]  # no "_orig_mod." prefix: a compiled run's checkpoint is an ordinary one


def test_a_compiled_training_trains_what_an_eager_one_trains(tmp_path, aot_eager):
    def train(name, *flags):
        return train_cli.main(["--config", SMOKE, "--genotype", str(ROOT / "genotypes" / "darts_v2.yaml"),
                               "--data-dir", str(tmp_path / "data"), "--device", "cpu", "--out", str(tmp_path / name),
                               "--progress", "false", "--epochs", "1", "--layers", "2", *flags])

    eager = train("eager")
    compiled = train("compiled", "--compile", "true")
    assert "forward_train" in aot_eager and counters["stats"]["unique_graphs"] > 0
    assert compiled.history[0]["train_loss"] == pytest.approx(eager.history[0]["train_loss"], abs=1e-5)
    assert compiled.metrics["auc"] == pytest.approx(eager.metrics["auc"], abs=1e-4)
    states = [load_checkpoint(tmp_path / run / "best.pt")["state_dict"] for run in ("eager", "compiled")]
    assert set(states[0]) == set(states[1])
