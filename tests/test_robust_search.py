"""The robust-search options, each held to its defining property: partial channels and edge normalisation
(PC-DARTS), warm-up, the logsumexp regulariser (beta-DARTS), the decaying auxiliary skip (DARTS-), the skip cap
(P-DARTS) and the collapse report."""
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from test_data_util import fails

import darts_nexp.engine.search as search_engine
from darts_nexp.cli import search as search_cli
from darts_nexp.bilevel import Architect, search_epoch
from darts_nexp.space import PRIMITIVES, Genotype, derive_genotype, edge_inputs, num_edges
from darts_nexp.supernet import MixedOp, SearchNetwork
from darts_nexp.supernet.mixed_op import channel_shuffle
from darts_nexp.supernet.network import node_softmax

ROOT = Path(__file__).resolve().parents[1]
SKIP = PRIMITIVES.index("skip_connect")


def zero_weights():
    return torch.zeros(len(PRIMITIVES))


@pytest.mark.parametrize("stride,size", [(1, (8, 8)), (2, (9, 7))])
def test_partial_channels_bypass_all_but_one_kth(stride, size):
    torch.manual_seed(0)
    op = MixedOp(8, stride, partial=4)
    assert all(m.in_channels == 2 for m in op.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == 1)
    x = torch.randn(2, 8, *size)
    out = op(x, zero_weights())  # every op weighted 0: only the bypassed channels are left
    h, w = -(-size[0] // stride), -(-size[1] // stride)
    assert out.shape == (2, 8, h, w)
    bypass = x[:, 2:] if stride == 1 else torch.nn.functional.max_pool2d(x[:, 2:], 2, 2, ceil_mode=True)
    expected = channel_shuffle(torch.cat([torch.zeros(2, 2, h, w), bypass], dim=1), 4)
    assert torch.equal(out, expected)
    assert not torch.equal(expected, torch.cat([torch.zeros(2, 2, h, w), bypass], dim=1))  # shuffled, not stacked


def test_aux_skip_adds_a_decaying_identity_outside_the_softmax():
    torch.manual_seed(0)
    op = MixedOp(4, 1)
    x, w = torch.randn(2, 4, 6, 6), torch.softmax(torch.randn(len(PRIMITIVES)), 0)
    plain = op(x, w)
    op.aux_skip = 0.7
    assert torch.allclose(op(x, w), plain + 0.7 * x)  # stride 1: the skip is the identity
    assert torch.allclose(op(x, zero_weights()), 0.7 * x)
    op.aux_skip = 0.0
    assert torch.equal(op(x, w), plain)


def test_node_softmax_normalises_each_nodes_incoming_edges():
    beta = torch.randn(num_edges(4), requires_grad=True)
    weights = node_softmax(beta, 4)
    node_of = torch.tensor([n for _, n in edge_inputs(4)])
    for node in range(2, 6):
        assert torch.isclose(weights[node_of == node].sum(), torch.tensor(1.0))
    weights[3].backward()
    assert beta.grad[node_of != node_of[3]].abs().sum() == 0 and beta.grad[node_of == node_of[3]].abs().sum() > 0


def test_edge_normalisation_ranks_edges_by_alpha_times_beta():
    alpha = np.zeros((num_edges(4), len(PRIMITIVES)))
    alpha[:, PRIMITIVES.index("sep_conv_3x3")] = 1.0
    node5 = [r for r, (_, node) in enumerate(edge_inputs(4)) if node == 5]  # inputs 0..4
    alpha[node5[0], PRIMITIVES.index("sep_conv_3x3")] = 3.0  # node 5's edge from input 0 has the strongest op
    plain = derive_genotype(alpha, alpha)
    assert plain.normal[6][1] == 0
    edge = np.ones(num_edges(4))
    edge[node5[0]] = 0.01  # ...but a tiny edge weight: that edge must be dropped, not just reordered
    normed = derive_genotype(alpha, alpha, edge_normal=edge, edge_reduce=None)
    assert 0 not in [src for _, src in normed.normal[6:]] and normed.normal[:6] == plain.normal[:6]
    assert normed.reduce == plain.reduce


@pytest.mark.parametrize("order", ["first", "second"])
def test_partial_channels_and_edge_norm_train_every_parameter(order):
    torch.manual_seed(0)
    model = SearchNetwork(init_channels=4, layers=3, stem_multiplier=1, partial_channels=2, edge_norm=True)
    assert len(model.alphas()) == 4 and {p.shape for p in model.alphas()} == {(14, 8), (14,)}
    batch = (torch.randn(4, 1, 12, 12), torch.tensor([0, 1, 0, 1]))
    opt = torch.optim.SGD(model.weights(), lr=0.05, momentum=0.9)
    _, grads = Architect(model, order).gradient(batch, batch, 0.05, opt)
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
    assert model.genotype().nodes == 4


def test_beta_decay_gradient_is_lambda_softmax_over_the_edges():
    torch.manual_seed(0)
    model = SearchNetwork(init_channels=4, layers=3, stem_multiplier=1, edge_norm=True)
    with torch.no_grad():
        for a in model.alphas():
            a.normal_()
    architect = Architect(model, "first")
    architect.beta_decay = 2.0
    grads = architect.regulariser_grad()
    rows = 2 * num_edges(4)  # the mean runs over the rows of both alpha matrices
    for a, g in zip(model.alphas(), grads):
        expected = 2.0 * a.softmax(-1) / rows if a.dim() == 2 else torch.zeros_like(a)
        assert torch.allclose(g, expected, atol=1e-7)
    batch = (torch.randn(2, 1, 8, 8), torch.tensor([0, 1]))
    opt = torch.optim.SGD(model.weights(), lr=0.05)
    _, with_reg = architect.gradient(batch, batch, 0.05, opt)
    architect.beta_decay = 0.0
    _, without = architect.gradient(batch, batch, 0.05, opt)
    assert all(torch.allclose(w, o + r, atol=1e-6) for w, o, r in zip(with_reg, without, grads))


def test_a_warm_up_epoch_trains_the_weights_only():
    torch.manual_seed(0)
    model = SearchNetwork(init_channels=4, layers=3, stem_multiplier=1)
    alphas = [a.detach().clone() for a in model.alphas()]
    weights = [w.detach().clone() for w in model.weights()]
    batches = [(torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])) for _ in range(2)]
    opt = torch.optim.SGD(model.weights(), lr=0.05)
    stats = search_epoch(model, Architect(model, "first"), opt, batches, batches, 0.05, epoch=1, progress=False,
                         arch_steps=False)
    assert all(torch.equal(a, b) for a, b in zip(alphas, model.alphas())) and math.isnan(stats["arch_loss"])
    assert not all(torch.equal(a, b) for a, b in zip(weights, model.weights()))
    search_epoch(model, Architect(model, "first"), opt, batches, batches, 0.05, epoch=2, progress=False)
    assert not all(torch.equal(a, b) for a, b in zip(alphas, model.alphas()))


def test_the_skip_cap_keeps_the_strongest_skips():
    rng = np.random.default_rng(0)
    alpha = rng.normal(0, 0.1, (num_edges(4), len(PRIMITIVES)))
    alpha[:, SKIP] += 5 + np.arange(num_edges(4)) * 0.1  # skips win everywhere, later edges more strongly
    free = derive_genotype(alpha, alpha)
    assert sum(op == "skip_connect" for op, _ in free.normal) == 8
    capped = derive_genotype(alpha, alpha, max_skips=2)
    skips = [src for op, src in capped.normal if op == "skip_connect"]
    assert len(skips) == 2 and capped.normal[-2:] == free.normal[-2:]  # node 5's skips are the strongest
    assert capped.reduce == free.reduce  # the cap is on the normal cell only
    assert derive_genotype(alpha, alpha, max_skips=0).normal.count(("skip_connect", 0)) == 0


def test_search_cli_runs_the_options_and_reports_collapse(tmp_path, monkeypatch):
    aux = []
    real = SearchNetwork.set_aux_skip
    monkeypatch.setattr(SearchNetwork, "set_aux_skip", lambda self, w: (aux.append(w), real(self, w)))
    result = search_cli.main([
        "--config", str(ROOT / "configs" / "smoke.yaml"), "--data-dir", str(tmp_path / "data"), "--out",
        str(tmp_path / "run"), "--genotype-out", str(tmp_path / "g.yaml"), "--progress", "false", "--order", "first",
        "--data.image-size", "16", "16", "--epochs", "3", "--warmup-epochs", "1", "--partial-channels", "2",
        "--edge-norm", "true", "--beta-decay", "1.0", "--aux-skip", "1.0", "--max-skips", "1"])
    assert aux == pytest.approx([1.0, 2 / 3, 1 / 3])
    history = yaml.safe_load((tmp_path / "run" / "genotype_history.yaml").read_text())
    assert math.isnan(history[0]["arch_loss"]) and not math.isnan(history[1]["arch_loss"])
    for h in history:
        assert h["normal_skips"] == sum(op == "skip_connect" for op, _ in h["genotype"]["normal"])
    assert history[0]["changed"] == 0  # a warm-up epoch leaves the alphas, and so the cell, where they were
    cells = [Genotype.from_dict(h["genotype"]) for h in history]
    assert [h["changed"] for h in history[1:]] == [b.changes_from(a) for a, b in zip(cells, cells[1:])]
    assert sum(op == "skip_connect" for op, _ in result.genotype.normal) <= 1
    assert set(result.alphas) == {"alpha_normal", "alpha_reduce", "beta_normal", "beta_reduce"}


def robust_args(tmp_path, out, *extra):
    return ["--config", str(ROOT / "configs" / "smoke.yaml"), "--data-dir", str(tmp_path / "data"), "--out", str(out),
            "--genotype-out", str(out) + ".yaml", "--progress", "false", "--order", "first",
            "--data.image-size", "16", "16", "--epochs", "3", "--warmup-epochs", "1", "--partial-channels", "2",
            "--edge-norm", "true", "--beta-decay", "1.0", "--aux-skip", "1.0", "--optimizer", "adamw", "--lr", "3e-3",
            *extra]


def test_resume_with_every_option_is_exact(tmp_path, monkeypatch, capsys):
    """Interrupted after the warm-up epoch and resumed: the same alphas, betas and genotype as one run (AdamW's
    moments included, which the weight steps of the resumed epochs depend on)."""
    whole = search_cli.main(robust_args(tmp_path, tmp_path / "whole"))
    real, epochs = search_engine.search_epoch, []

    def stop_after_one(*args, **kwargs):
        if epochs:
            raise KeyboardInterrupt
        epochs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(search_engine, "search_epoch", stop_after_one)
    with pytest.raises(SystemExit):
        search_cli.main(robust_args(tmp_path, tmp_path / "cut"))
    monkeypatch.setattr(search_engine, "search_epoch", real)
    resumed = search_cli.main(["--resume", str(tmp_path / "cut"), "--progress", "false"])
    assert resumed.alphas.keys() == whole.alphas.keys()
    assert all(torch.equal(resumed.alphas[k], whole.alphas[k]) for k in whole.alphas)
    assert resumed.genotype == whole.genotype
    fails(capsys, search_cli.main, ["--resume", tmp_path / "cut", "--partial-channels", "1"],
          "--partial-channels 1 (the run has 2) cannot change on --resume")


@pytest.mark.parametrize("argv,names", [
    (["--init-channels", "4", "--partial-channels", "3"], ["--partial-channels 3", "--init-channels 4"]),
    (["--partial-channels", "0"], ["--partial-channels must be 1 or more"]),
    (["--arch-betas", "1.5", "0.999"], ["--arch-betas takes two numbers in [0, 1)"]),
    (["--stem-multiplier", "0"], ["--stem-multiplier must be 1 or more"]),
    (["--epochs", "2", "--warmup-epochs", "2"], ["--warmup-epochs 2"]),
    (["--max-skips", "9"], ["--max-skips"]),
    (["--beta-decay", "-1"], ["--beta-decay"]),
    (["--arch-lr", "0"], ["--arch-lr must be a finite number > 0"]),
    (["--lr-min", "-1"], ["--lr-min"]),
    (["--optimizer", "adamw", "--order", "second"], ["--optimizer adamw use --order first"]),
    (["--order", "first", "--hvp", "exact"], ["--hvp exact", "--order second"]),
])
def test_bad_robust_options(tmp_path, capsys, argv, names):
    fails(capsys, search_cli.main, ["--out", tmp_path / "run", *argv], *names)


def test_changes_count_edges_a_node_gained_whatever_their_order():
    base = Genotype.from_dict(yaml.safe_load((ROOT / "genotypes" / "darts_v2.yaml").read_text()))
    swapped = dataclasses.replace(base, normal=(base.normal[1], base.normal[0]) + base.normal[2:])
    assert base.changes_from(base) == 0 and swapped.changes_from(base) == 0
    other_op = dataclasses.replace(base, reduce=(("avg_pool_3x3", base.reduce[0][1]),) + base.reduce[1:])
    assert other_op.changes_from(base) == 1 == base.changes_from(other_op)
    other_input = dataclasses.replace(base, normal=base.normal[:7] + ((base.normal[7][0], 4),))
    assert other_input.changes_from(base) == 1


def test_an_unsettled_search_says_so_with_its_reach():
    cell = {"normal": [["sep_conv_3x3", 0]] * 8, "reduce": [["max_pool_3x3", 0]] * 8}
    history = [{"changed": 0, "genotype": cell}, {"changed": 5, "genotype": cell}, {"changed": 3, "genotype": cell}]
    note = search_engine.settle_note(history, reach=0.45)
    assert "3 of 16 edges changed in the last epoch (the last 3 epochs: 0, 5, 3)" in note
    long = search_engine.settle_note([{"changed": i, "genotype": cell} for i in range(1, 13)], reach=0.45)
    assert "12 of 16 edges changed in the last epoch (the last 10 epochs: 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)" in long
    assert "= 0.45 in this search (the paper's: 5.9)" in note
    assert search_engine.settle_note(history[:1], reach=0.45) is None
    assert search_engine.settle_note([{"genotype": cell}], reach=0.45) is None  # a history from before the count
