"""benchmarks/supernet_learning.py on tiny settings: a score every --every steps, the weights trained, the alphas not."""
from pathlib import Path

import torch
from test_data_util import load_benchmark

import darts_nexp.cli.search as search_cli

ROOT = Path(__file__).resolve().parents[1]


def test_weights_train_alphas_stay_and_every_kth_step_is_scored(tmp_path, monkeypatch, capsys):
    built = []
    real_build = search_cli.build

    def keep(cfg, device):
        parts = real_build(cfg, device)
        built.append((parts[0], [w.detach().clone() for w in parts[0].weights()],
                      [a.detach().clone() for a in parts[0].alphas()]))
        return parts

    bench = load_benchmark("supernet_learning")
    monkeypatch.setattr(bench, "build", keep)
    rows = bench.main(["--config", str(ROOT / "configs" / "smoke.yaml"), "--data-dir", str(tmp_path / "data"),
                       "--data.image-size", "16", "16", "--optimizer", "adamw", "--lr", "3e-3", "--order", "first",
                       "--steps", "5", "--every", "2", "--progress", "false"])
    assert [r[0] for r in rows] == [2, 4, 5] and all(0 <= r[1] <= 1 for r in rows)
    assert [r[2] for r in rows] == sorted(r[2] for r in rows)
    model, weights, alphas = built[0]
    assert all(torch.equal(a, b) for a, b in zip(alphas, model.alphas()))
    assert not all(torch.equal(w, b) for w, b in zip(weights, model.weights()))
    assert "adamw lr 0.003" in capsys.readouterr().out
