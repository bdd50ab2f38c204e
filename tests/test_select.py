"""Choosing the cell: perturbation derivation (DARTS-PT), several searches and a choice among them, and the refusals."""
import csv
import json
from pathlib import Path

import pytest
import torch
import yaml

from darts_nexp.cli.derive import main as derive_main
from darts_nexp.cli.search import main as search_main
from darts_nexp.engine.select import Candidate, choose
from darts_nexp.runs import run_info
from darts_nexp.space import PRIMITIVES, Genotype, num_edges
from darts_nexp.supernet import SearchNetwork
from darts_nexp.supernet.derive import CHOICES, Projection, perturbation

SIGNAL, DISTRACTOR = PRIMITIVES.index("sep_conv_5x5"), PRIMITIVES.index("max_pool_3x3")


class Planted(SearchNetwork):
    """A supernet whose defect logit is carried by one op alone: the sum over all edges of its weight, times the
    image's brightness. That op has the smallest alpha on every edge, and max_pool the largest."""

    def forward(self, x):
        carried = sum(self._op_weights(cell)[:, SIGNAL].sum() for cell in ("normal", "reduce"))
        signal = x.flatten(1).mean(dim=1) * carried
        return torch.stack([torch.zeros_like(signal), signal], dim=1)


def test_perturbation_keeps_the_op_that_carries_the_signal_where_argmax_keeps_the_largest_alpha():
    torch.manual_seed(0)
    model = Planted(layers=1, nodes=2)
    with torch.no_grad():
        for alpha in (model.alpha_normal, model.alpha_reduce):
            alpha.zero_()
            alpha[:, SIGNAL] = -2.0
            alpha[:, DISTRACTOR] = 2.0
    labels = torch.tensor([0, 1] * 16)
    images = [(labels.float()[:, None, None, None].expand(32, 1, 4, 4) - 0.5, labels)]
    argmax = model.genotype()
    derived, decisions = perturbation(model, images, seed=0, progress=False)
    assert {op for op, _ in argmax.normal + argmax.reduce} == {"max_pool_3x3"}
    assert {op for op, _ in derived.normal + derived.reduce} == {"sep_conv_5x5"}
    edges = [d for d in decisions if "edge" in d]
    assert len(edges) == 2 * num_edges(2) and all(d["kept"] == "sep_conv_5x5" for d in edges)
    # removing the signal op hurts; removing any other op of the edge changes (almost) nothing
    for d in edges:
        assert d["without"]["sep_conv_5x5"] > max(v for k, v in d["without"].items() if k != "sep_conv_5x5")
    derived.validate()
    assert model.projection is None  # the supernet is left as it was found


def test_a_projection_fixes_edges_whatever_the_alphas_and_skips_only_ops_at_zero():
    torch.manual_seed(0)
    model = SearchNetwork(init_channels=4, layers=3, nodes=2).eval()
    x = torch.randn(2, 1, 16, 16)
    told, untold = Projection(num_edges(2), torch.device("cpu"), model), Projection(num_edges(2), torch.device("cpu"))
    for projection in (told, untold):
        for cell in ("normal", "reduce"):
            for e in range(num_edges(2)):
                projection.fix(cell, e, CHOICES[e % len(CHOICES)] if e != 3 else None)  # edge 3 removed
    mixed = model.body.cells[0].edges
    assert [sum(op.active) for op in mixed] == [1, 1, 1, 0, 1]  # one op computed, none on the removed edge
    with torch.no_grad():
        model.projection = told
        skipping = model(x)
        model.projection = untold
        told.release()
        assert all(op.active is None for op in mixed)
        assert torch.allclose(model(x), skipping, atol=1e-6)  # the skipped ops only ever added zeros
        model.alpha_normal.normal_()
        model.alpha_reduce.normal_()
        assert torch.allclose(model(x), skipping, atol=1e-6)
        model.projection = None
        assert not torch.allclose(model(x), skipping)


def test_removing_an_op_sets_only_its_weight_to_zero():
    projection = Projection(3, torch.device("cpu"))
    weights = torch.full((3, len(PRIMITIVES)), 1 / len(PRIMITIVES))
    row = torch.ones(len(PRIMITIVES))
    row[2] = 0
    projection.set("normal", 1, row)
    projection.fix("normal", 0, 4)
    projection.fix("normal", 2, None)
    out = projection.apply("normal", weights)
    assert out[0].tolist() == [0, 0, 0, 0, 1, 0, 0, 0]
    assert out[1, 2] == 0 and torch.allclose(out[1, [0, 1, 3, 4, 5, 6, 7]], weights[1, [0, 1, 3, 4, 5, 6, 7]])
    assert out[2].sum() == 0 and torch.equal(projection.apply("reduce", weights), weights)


def test_choose_takes_the_best_signal_and_skips_missing_ones():
    cands = [Candidate(0, "argmax", Path("a"), 0.9, None), Candidate(1, "argmax", Path("b"), 0.8, 0.7),
             Candidate(2, "argmax", Path("c"), None, 0.75)]
    assert choose(cands, "supernet").seed == 0 and choose(cands, "retrain").seed == 2
    assert choose(cands[:1], "retrain") is None


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("synthetic")


def tiny(data_dir, out, *extra):
    """The smoke config at 16 px with 2-node cells and first order: a few seconds per search."""
    return ["--config", "smoke", "--data-dir", str(data_dir), "--device", "cpu", "--out", str(out), "--genotype-out",
            str(Path(out).parent / f"{Path(out).name}.yaml"), "--progress", "false", "--data.image-size", "16", "16",
            "--nodes", "2", "--order", "first", "--epochs", "1", *extra]


@pytest.fixture(scope="module")
def two_searches(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("select") / "run"
    result = search_main(tiny(data_dir, out, "--search-seeds", "0", "1", "--select-by", "retrain",
                              "--select-epochs", "1"))
    return out, result


def test_several_searches_then_one_chosen_by_a_short_training(two_searches):
    out, result = two_searches
    rows = list(csv.DictReader((out / "candidates.csv").open()))
    assert [r["seed"] for r in rows] == ["0", "1"] and [r["chosen"] for r in rows].count("True") == 1
    chosen = next(r for r in rows if r["chosen"] == "True")
    assert float(chosen["retrain_val_auc"]) == max(float(r["retrain_val_auc"]) for r in rows)
    for r in rows:
        seed = r["seed"]
        assert run_info(out / f"seed-{seed}")["status"] == "finished"
        assert Genotype.load(r["genotype"]) == Genotype.load(out / f"seed-{seed}" / "genotype.yaml")
        history = yaml.safe_load((out / f"seed-{seed}" / "genotype_history.yaml").read_text())
        assert float(r["supernet_val_auc"]) == pytest.approx(history[-1]["val_auc"])
        select = out / f"select-seed-{seed}"
        assert run_info(select)["status"] == "finished" and not (select / "metrics.json").exists()  # no test
        assert yaml.safe_load((select / "config.yaml").read_text())["epochs"] == 1
        assert int(r["params"]) > 0 and float(r["search_core_seconds"]) > 0
    export = out.parent / "run.yaml"
    assert Genotype.load(export) == Genotype.load(chosen["genotype"]) == result.genotype
    assert Genotype.load(out / "genotype.yaml").meta["selected_by"] == "retrain"
    assert run_info(out)["status"] == "finished"


def test_a_resumed_multi_seed_search_keeps_its_searches_and_refuses_changed_settings(two_searches, capsys):
    out, _ = two_searches
    before = (out / "seed-0" / "checkpoint.pt").stat().st_mtime_ns
    search_main(["--resume", str(out), "--progress", "false"])
    assert (out / "seed-0" / "checkpoint.pt").stat().st_mtime_ns == before
    assert "finished earlier" in capsys.readouterr().out
    for flags in (["--search-seeds", "0", "2"], ["--select-by", "supernet"], ["--select-epochs", "2"]):
        with pytest.raises(SystemExit) as stop:
            search_main(["--resume", str(out), *flags])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and "cannot change on --resume" in err and "Traceback" not in err


def test_derive_writes_a_second_genotype_beside_the_first(two_searches, capsys):
    out, _ = two_searches
    run_dir = out / "seed-0"
    argmax = (run_dir / "genotype.yaml").read_text()
    genotype = derive_main([str(run_dir), "--derive-images", "16", "--derive-tune-steps", "1", "--progress", "false"])
    assert (run_dir / "genotype.yaml").read_text() == argmax
    assert Genotype.load(run_dir / "genotype-perturbation.yaml") == genotype
    genotype.validate()
    assert genotype.meta["derive"] == "perturbation" and genotype.meta["derive_images"] == 16
    decisions = yaml.safe_load((run_dir / "perturbation" / "decisions.yaml").read_text())
    assert sum("edge" in d for d in decisions) == 2 * num_edges(2)
    assert all(d["kept"] == max(d["without"], key=d["without"].get) for d in decisions if "edge" in d)
    assert (run_dir / "perturbation" / "normal.gv").is_file()
    assert "genotype-perturbation.yaml" in capsys.readouterr().out


def test_a_search_can_export_its_perturbation_cell(data_dir, tmp_path):
    result = search_main(tiny(data_dir, tmp_path / "run", "--derive", "perturbation", "--derive-images", "16",
                              "--derive-tune-steps", "0"))
    assert Genotype.load(tmp_path / "run.yaml") == Genotype.load(tmp_path / "run" / "genotype-perturbation.yaml")
    assert result.genotype.meta["derive"] == "perturbation"
    assert (tmp_path / "run" / "genotype.yaml").is_file()  # the argmax cell, beside it


@pytest.mark.parametrize("flags, message", [
    (["--select-by", "retrain"], "pass --search-seeds with 2 or more seeds"),
    (["--search-seeds", "3", "--select-by", "supernet"], "pass --search-seeds with 2 or more seeds"),
    (["--search-seeds", "0", "1", "--select-epochs", "0"], "--select-epochs must be 1 or more"),
    (["--derive", "perturbation", "--derive-tune-steps", "-1"], "--derive-tune-steps must be 0 or more"),
    (["--derive-images", "8"], "--derive-images must be at least 16"),
    (["--search-seeds", "0", "0"], "repeats a seed"),
])
def test_bad_selection_settings_are_one_error_line_and_write_nothing(data_dir, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as stop:
        search_main(tiny(data_dir, tmp_path / "run", *flags))
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_derive_refuses_what_is_not_a_finished_search(two_searches, tmp_path, capsys):
    out, _ = two_searches
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    for name in ("config.yaml", "splits.json", "checkpoint.pt"):
        (unfinished / name).write_bytes((out / "seed-0" / name).read_bytes())
    info = json.loads((out / "seed-0" / "run.json").read_text())
    (unfinished / "run.json").write_text(json.dumps({**info, "status": "running"}))
    cases = [(out / "select-seed-0", "holds a train run"), (unfinished, "is an unfinished search"),
             (out, "holds 2 searches, one per seed"), (tmp_path / "absent", "is not a folder"),
             (out / "seed-1", "--derive-tune-steps must be 0 or more")]
    for run_dir, message in cases:
        extra = ["--derive-tune-steps", "-1"] if "tune" in message else []
        with pytest.raises(SystemExit) as stop:
            derive_main([str(run_dir), *extra])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and message in err and "Traceback" not in err, (run_dir, err)
        assert not (run_dir / "genotype-perturbation.yaml").exists()
