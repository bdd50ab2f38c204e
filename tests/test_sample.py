"""Random genotypes: reproducible by (seed, index), inside the DARTS space, uniform over it, size-matched on demand."""
import re
from collections import Counter
from pathlib import Path

import pytest

import darts_nexp.render as render
from darts_nexp.errors import UserError
from darts_nexp.final import FinalNetwork, param_count
from darts_nexp.space import Genotype
from darts_nexp.cli.sample import main
from darts_nexp.engine.sample import MAX_ATTEMPTS, SampleConfig, final_param_count, run
from darts_nexp.space.sample import OPERATIONS, sample_genotype, sample_rng

ROOT = Path(__file__).resolve().parents[1]
DARTS_V2 = ROOT / "genotypes/darts_v2.yaml"
SMALL = dict(init_channels=8, layers=5, stem="cifar")  # cheap to build when a test needs the real network


def texts(paths):
    return [Path(p).read_text() for p in paths]


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a = run(SampleConfig(n=4, seed=7, out=str(tmp_path / "a"), **SMALL))
    b = run(SampleConfig(n=4, seed=7, out=str(tmp_path / "b"), **SMALL))
    c = run(SampleConfig(n=4, seed=8, out=str(tmp_path / "c"), **SMALL))
    assert [p.name for p in a] == [f"random-{i:03d}.yaml" for i in range(4)]
    assert texts(a) == texts(b)
    assert all(x != y for x, y in zip(texts(a), texts(c)))


def test_file_i_does_not_depend_on_n(tmp_path):
    few = run(SampleConfig(n=2, seed=3, out=str(tmp_path / "few"), **SMALL))
    many = run(SampleConfig(n=5, seed=3, out=str(tmp_path / "many"), **SMALL))
    assert texts(few) == texts(many)[:2]


def test_start_writes_the_files_a_longer_run_ends_with(tmp_path):
    whole = run(SampleConfig(n=5, seed=3, out=str(tmp_path / "whole"), like=str(DARTS_V2), **SMALL))
    tail = run(SampleConfig(n=2, start=3, seed=3, out=str(tmp_path / "tail"), like=str(DARTS_V2), **SMALL))
    assert [p.name for p in tail] == ["random-003.yaml", "random-004.yaml"]
    assert texts(tail) == texts(whole[3:])


def test_files_validate_and_render(tmp_path, monkeypatch):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)  # .gv only: fast and independent of dot
    paths = run(SampleConfig(n=3, seed=1, out=str(tmp_path / "g"), **SMALL))
    for i, path in enumerate(paths):
        g = Genotype.load(path)
        assert g.name == f"random-1-{i}" and g.meta == {"sampler": "uniform", "seed": 1, "index": i}
        assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
        drawn, _ = render.render_genotype(g, tmp_path / f"draw{i}")
        assert sorted(p.name for p in drawn) == ["normal.gv", "reduce.gv"]
        assert all(p.stat().st_size > 0 for p in drawn)


@pytest.mark.parametrize("nodes", [1, 4, 6])
def test_inputs_distinct_in_range_and_never_none(nodes):
    for i in range(50):
        g = sample_genotype(sample_rng(0, i), nodes)
        g.validate()
        assert g.nodes == nodes
        for cell in (g.normal, g.reduce):
            for k in range(nodes):
                (op_a, a), (op_b, b) = cell[2 * k], cell[2 * k + 1]
                assert a != b and 0 <= a < k + 2 and 0 <= b < k + 2
                assert "none" not in (op_a, op_b) and {op_a, op_b} <= set(OPERATIONS)


def test_ops_and_inputs_are_uniform():
    ops, inputs = Counter(), {k: Counter() for k in range(4)}
    cells = 0
    for i in range(200):
        g = sample_genotype(sample_rng(11, i))
        for cell in (g.normal, g.reduce):
            cells += 1
            for k, (op, src) in enumerate(cell):
                ops[op] += 1
                inputs[k // 2][src] += 1
    edges = 8 * cells
    assert set(ops) == set(OPERATIONS) and len(OPERATIONS) == 7
    for op in OPERATIONS:
        assert 0.75 < ops[op] / (edges / 7) < 1.25, (op, ops[op])
    for k, seen in inputs.items():
        assert set(seen) == set(range(k + 2))
        for src in range(k + 2):
            # each of the node's k+2 candidates is one of its 2 inputs with probability 2/(k+2)
            assert 0.75 < seen[src] / (cells * 2 / (k + 2)) < 1.25, (k, src, seen[src])
    # normal and reduce are drawn separately, not copied
    assert sum(sample_genotype(sample_rng(11, i)).normal != sample_genotype(sample_rng(11, i)).reduce
               for i in range(20)) == 20


@pytest.mark.parametrize("settings", [dict(init_channels=48, layers=14, stem="imagenet"), SMALL,
                                      dict(init_channels=10, layers=7, stem="cifar")])
def test_the_meta_device_count_equals_param_count_of_the_final_network(settings):
    for g in [Genotype.load(DARTS_V2), sample_genotype(sample_rng(5, 0)), sample_genotype(sample_rng(5, 1), 3)]:
        model = FinalNetwork(g, num_classes=2, in_chans=1, auxiliary=False, **settings)
        assert final_param_count(g, **settings) == param_count(model), g.name


def test_like_keeps_the_parameter_count_within_tolerance(tmp_path):
    target = param_count(FinalNetwork(Genotype.load(DARTS_V2), num_classes=2, in_chans=1, init_channels=48,
                                      layers=14, stem="imagenet", auxiliary=False))
    assert target == 3_950_858
    paths = run(SampleConfig(n=4, seed=2, out=str(tmp_path), like=str(DARTS_V2), tolerance=0.05))
    for path in paths:
        g = Genotype.load(path)
        exact = param_count(FinalNetwork(g, num_classes=2, in_chans=1, init_channels=48, layers=14, auxiliary=False))
        assert abs(exact - target) <= 0.05 * target
        assert g.meta["like"] == str(DARTS_V2) and g.meta["tolerance"] == 0.05


def test_like_rejects_cells_outside_the_band(tmp_path):
    """Unconstrained draws of these seeds leave the band; --like must draw others for them."""
    free = [final_param_count(Genotype.load(p), **SMALL) for p in run(SampleConfig(n=6, out=str(tmp_path / "a"),
                                                                                      **SMALL))]
    target = final_param_count(Genotype.load(DARTS_V2), **SMALL)
    assert any(abs(p - target) > 0.03 * target for p in free)
    liked = run(SampleConfig(n=6, out=str(tmp_path / "b"), like=str(DARTS_V2), tolerance=0.03, **SMALL))
    assert all(abs(final_param_count(Genotype.load(p), **SMALL) - target) <= 0.03 * target for p in liked)


def test_like_gives_up_after_the_cap(tmp_path):
    # Every edge at its largest op: a random cell comes within 1% only if nearly all 16 edges draw sep_conv_5x5.
    big = {cell: [["sep_conv_5x5", j] for k in range(4) for j in (0, 1)] for cell in ("normal", "reduce")}
    ref = Genotype.from_dict(big).save(tmp_path / "big.yaml")
    message = rf"--like {re.escape(str(ref))}: no cell within 1% .* in {MAX_ATTEMPTS} draws .*widen --tolerance"
    with pytest.raises(UserError, match=message):
        run(SampleConfig(n=1, out=str(tmp_path / "out"), like=str(ref), tolerance=0.01, **SMALL))
    assert not (tmp_path / "out").exists()


def test_bad_like_file_names_the_file(tmp_path):
    with pytest.raises(UserError, match="missing.yaml not found"):
        run(SampleConfig(out=str(tmp_path), like=str(tmp_path / "missing.yaml")))
    bad = tmp_path / "bad.yaml"
    bad.write_text("normal: [[conv_9x9, 0], [sep_conv_3x3, 1]]\nreduce: [[max_pool_3x3, 0], [max_pool_3x3, 1]]\n")
    with pytest.raises(UserError, match=rf"{re.escape(str(bad))}: normal edge 0 uses unknown operation 'conv_9x9'"):
        run(SampleConfig(out=str(tmp_path), like=str(bad)))


@pytest.mark.parametrize("field,value,message", [
    ("n", 0, "--n 0: nothing to write; pass --n 1 or more"),
    ("start", -1, "--start -1: the first index is 0 or more"),
    ("tolerance", 0.0, "--tolerance 0.0: must be a fraction between 0 and 1"),
    ("tolerance", 1.0, "--tolerance 1.0: must be a fraction between 0 and 1"),
    ("tolerance", -0.1, "--tolerance -0.1"),
    ("nodes", 0, "--nodes 0: a cell needs at least 1 intermediate node"),
    ("seed", -1, "--seed -1"),
    ("init_channels", 7, "--init-channels 7: must be an even number"),
    ("layers", 0, "--layers 0"),
])
def test_bad_options_name_the_option_and_the_fix(tmp_path, field, value, message):
    with pytest.raises(UserError, match=re.escape(message)):
        run(SampleConfig(out=str(tmp_path), **{field: value}))
    assert not any(tmp_path.iterdir())


def test_main_parses_dashed_flags_and_prints_one_line_per_file(tmp_path, capsys):
    out = tmp_path / "cli"
    paths = main(["--n", "2", "--seed", "4", "--out", str(out), "--init-channels", "8", "--layers", "5",
                  "--stem", "cifar", "--like", str(DARTS_V2), "--tolerance", "0.2"])
    assert paths == [out / "random-000.yaml", out / "random-001.yaml"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"{paths[0]}  normal skip_connect: ")
    assert "params: " in lines[0] and lines[-1].startswith(f"wrote 2 random genotypes to {out}")
    assert texts(paths) == texts(run(SampleConfig(n=2, seed=4, out=str(tmp_path / "api"), like=str(DARTS_V2),
                                                  tolerance=0.2, **SMALL)))
    with pytest.raises(SystemExit) as e:
        main(["--n", "0", "--out", str(tmp_path / "none")])
    assert e.value.code == 2 and "--n 0" in capsys.readouterr().err
