"""benchmarks/search_quality.py end to end on tiny settings: the rows, the summary, a rerun that trains nothing, a
killed run resumed, and bad input refused before any run starts."""
import csv
import json
import math
import shutil
from pathlib import Path

import pytest
import yaml

import darts_nexp.engine.protocol as sq
import darts_nexp.engine.search as search_cli
import darts_nexp.engine.train as train_cli
from darts_nexp.cli.protocol import main as protocol_main, parse
from darts_nexp.errors import UserError
from darts_nexp.space import Genotype

ROOT = Path(__file__).resolve().parents[1]



TINY = """\
protocol:
  search_seeds: [0]
  n_random: 2
  like: false
  train_seeds: [0]
  random_search: candidates
  out: sq
  data:
    image_size: [16, 16]
    synthetic: {n_train: 160, n_test: 60, size: [64, 64]}
  search: {epochs: 1, order: first, batch_size: 32, init_channels: 4, layers: 3, nodes: 2, device: cpu,
           progress: false, derive_images: 16, derive_tune_steps: 1}
  train: {epochs: 1, batch_size: 32, init_channels: 4, layers: 2, device: cpu, progress: false}
"""


def tiny_config(tmp_path: Path, *flags: str):
    (tmp_path / "tiny.yaml").write_text(TINY)
    return ["--config", str(tmp_path / "tiny.yaml"), *flags]


def refuse(*args, **kwargs):
    raise AssertionError("the rerun started a run although every run had finished")


def test_protocol_end_to_end_then_rerun_trains_nothing(tmp_path, monkeypatch, capsys):
    rows = protocol_main(tiny_config(tmp_path, "--search-seeds", "0", "1", "--train-seeds", "0", "1"))
    out = tmp_path / "sq"
    cells = ["searched-0", "searched-0-pt", "searched-1", "searched-1-pt", "random-000", "random-001", "darts_v1",
             "darts_v2"]
    kinds = dict(zip(cells, ["searched", "searched-perturbation"] * 2 + ["random"] * 2 + ["published"] * 2))
    with open(out / "candidates.csv", newline="") as f:
        candidates = list(csv.DictReader(f))
    assert [c["cell"] for c in candidates] == cells[:6]

    def best(kind, signal):
        return max((c for c in candidates if c["kind"] == kind), key=lambda c: float(c[signal]))["cell"]

    # The cells the summary compares are trained first, seed by seed; searched cells no rule chose come last.
    chosen = {best(kind, signal) for kind in ("searched", "searched-perturbation")
              for signal in ("search_val_auc", "select_val_auc")}
    first = [c for c in cells if c in chosen or not c.startswith("searched")]
    later = [c for c in cells if c not in first]
    assert [r["cell"] for r in rows] == first * 2 + later * 2
    assert [r["train_seed"] for r in rows] == [0] * len(first) + [1] * len(first) + [0] * len(later) + [1] * len(later)
    assert all(r["kind"] == kinds[r["cell"]] for r in rows)
    with open(out / "rows.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["cell"] for r in table] == [r["cell"] for r in rows]
    assert all(r["search_seed"] == (r["cell"][9] if r["cell"].startswith("searched") else "") for r in table)
    assert json.loads((out / "rows.json").read_text()) == rows
    by_cell = {r["cell"]: r for r in rows}
    for row in rows:
        assert math.isfinite(row["test_auc"]) and 0 <= row["test_auc"] <= 1, row
        assert row["params"] > 0 and Path(row["genotype"]).is_file() and row["core_seconds"] >= 0
        assert row["normal_skips"] == sum(op == "skip_connect" for op, _ in Genotype.load(row["genotype"]).normal)
        assert (Path(row["run_dir"]) / "run.json").is_file()
        assert (row["select_val_auc"] is None) == (row["kind"] == "published")
    assert math.isfinite(by_cell["searched-0"]["search_val_auc"]) and by_cell["random-000"]["search_val_auc"] is None
    # the perturbation cell is read from the search's own supernet, and shares its supernet AUC
    assert by_cell["searched-0-pt"]["search_val_auc"] == by_cell["searched-0"]["search_val_auc"]
    assert Genotype.load(out / "genotypes" / "searched-0-pt.yaml").meta["derive"] == "perturbation"
    for cell in cells[:6]:  # every candidate got the short training, which never scored the test split
        assert (out / f"select-{cell}" / "best.pt").is_file() and not (out / f"select-{cell}" / "metrics.json").exists()
    assert all(float(c["select_core_seconds"]) >= 0 for c in candidates)
    assert all(float(c["derive_core_seconds"]) > 0 for c in candidates if c["kind"] == "searched-perturbation")
    summary = (out / "summary.md").read_text()
    for group in ("| searched | 2 |", "| searched-perturbation | 2 |", "| random | 2 |", "| published | 2 |",
                  "- darts_v2", "**Verdict:**", "## Cost", "## Choosing the cell", "| supernet, argmax |",
                  "| retrain, perturbation |", "| random search |", "| mean random cell | 2 cells |",
                  "Spearman", "core-seconds", "**Goal**"):
        assert group in summary, group
    assert "latency-aware" not in summary and (out / "pareto.png").stat().st_size > 0
    assert all(row["latency_ms"] > 0 and row["predicted_latency_ms"] is None for row in rows)
    assert summary in capsys.readouterr().out

    # Everything finished: a rerun starts no search and no training, and gives the same rows.
    real_train = train_cli.run
    monkeypatch.setattr(search_cli, "run", refuse)
    monkeypatch.setattr(train_cli, "run", refuse)
    seeds = ("--search-seeds", "0", "1", "--train-seeds", "0", "1")
    assert protocol_main(tiny_config(tmp_path, *seeds)) == rows
    assert json.loads((out / "rows.json").read_text()) == rows
    assert "finished earlier" in capsys.readouterr().out
    # Without the candidates no rule chose: the compared cells' rows, and a summary that still ranks what it has.
    compared = protocol_main(tiny_config(tmp_path, *seeds, "--train-unchosen", "false"))
    assert compared == [r for r in rows if r["cell"] in first]
    searched = {r["cell"] for r in compared if r["kind"] in ("searched", "searched-perturbation")}
    summary = (out / "summary.md").read_text()
    assert "**Goal**" in summary and searched == chosen  # the rank correlations count only the trained cells
    assert f"over the {len(searched)} searched cells with a final training" in summary
    # A kept record of the folder, its checkpoints, splits and events left out (docs/search.md), reads the same.
    record = shutil.copytree(out, tmp_path / "record", ignore=shutil.ignore_patterns(
        "checkpoint.pt", "last.pt", "splits.json", "events.out.*"))
    for select in record.glob("select-*"):
        (select / "best.pt").unlink()
    kept = protocol_main(tiny_config(tmp_path, *seeds, "--out", str(record)))
    assert [(r["cell"], r["test_auc"], r["select_val_auc"]) for r in kept] == \
        [(r["cell"], r["test_auc"], r["select_val_auc"]) for r in rows]

    # A run killed before its end is resumed, and only that one.
    run_json = out / "train-random-001-seed0" / "run.json"
    run_json.write_text(json.dumps({**json.loads(run_json.read_text()), "status": "running"}))
    calls = []

    def record(cfg, resume=False):
        calls.append((Path(cfg.out).name, resume))
        return real_train(cfg, resume)

    monkeypatch.setattr(train_cli, "run", record)
    again = protocol_main(tiny_config(tmp_path, *seeds))
    assert calls == [("train-random-001-seed0", True)]
    assert [r["cell"] for r in again] == [r["cell"] for r in rows]
    assert json.loads(run_json.read_text())["status"] == "finished"

    # Changed training settings would mix two recipes in one table: refused, naming the setting.
    with pytest.raises(UserError, match="train.epochs"):
        sq.run(parse(tiny_config(tmp_path, *seeds, "--train.epochs", "2")))


def test_random_search_at_equal_budget_draws_cells_until_it_has_spent_the_searched_arms_compute(tmp_path,
                                                                                                 monkeypatch):
    # Each search costs 10 core-seconds and each short training 3, so the costliest arm (retrain: the search and
    # searched-0's short training) spent 13, and random search needs 5 short trainings (15) to match it.
    monkeypatch.setattr(sq, "core_seconds", lambda path: 10.0 if Path(path).name.startswith("search-") else 3.0)
    flags = ("--derive", "argmax", "--n-random", "1", "--random-search", "equal", "--published")
    rows = protocol_main(tiny_config(tmp_path, *flags))
    out = tmp_path / "sq"
    with open(out / "candidates.csv", newline="") as f:
        candidates = {c["cell"]: c for c in csv.DictReader(f)}
    assert list(candidates) == ["searched-0", "random-000"] + [f"random-{i:03d}" for i in range(1, 5)]
    assert [candidates[f"random-{i:03d}"]["kind"] for i in range(5)] == ["random"] + ["random-search"] * 4
    # Only random search's choice among the five is trained to the end, beside the searched cell and random-000.
    best = max((c for c in candidates.values() if c["kind"].startswith("random")),
               key=lambda c: float(c["select_val_auc"]))["cell"]
    assert sorted(r["cell"] for r in rows) == sorted({"searched-0", "random-000", best})
    assert not any((out / f"train-random-{i:03d}-seed0").exists() for i in range(1, 5) if f"random-{i:03d}" != best)
    summary = (out / "summary.md").read_text()
    assert "with 4 more for random search at equal budget" in summary
    assert "random search used 1.15x the compute of the costliest searched arm" in summary
    # The budget is read from finished runs and the cells drawn by index: a rerun trains nothing and draws no more.
    monkeypatch.setattr(search_cli, "run", refuse)
    monkeypatch.setattr(train_cli, "run", refuse)
    assert protocol_main(tiny_config(tmp_path, *flags)) == rows
    assert not (out / "select-random-005").exists()


def test_a_published_file_that_does_not_load_is_refused_before_any_run(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("normal: [[sep_conv_3x3, 0]]\nreduce: []\n")
    with pytest.raises(UserError) as expected:
        Genotype.load(bad)
    cfg = parse(tiny_config(tmp_path, "--published", str(bad)))
    with pytest.raises(UserError) as got:
        sq.run(cfg)
    assert str(got.value) == str(expected.value)
    assert not (tmp_path / "sq").exists()


@pytest.mark.parametrize("flags, message", [
    (["--n-random", "-1"], "--n-random -1"),
    (["--search-seeds", "--n-random", "0"], "nothing to compare"),
    (["--train-seeds", "0", "0"], "repeats a seed"),
])
def test_bad_counts_are_a_clean_error(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as e:
        protocol_main(tiny_config(tmp_path, *flags))
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "sq").exists()


def test_settings_the_protocol_sets_itself_are_refused_in_the_file(tmp_path):
    (tmp_path / "p.yaml").write_text("protocol:\n  search: {seed: 3, data: {val_fraction: 0.2}}\n")
    with pytest.raises(UserError, match=r"protocol.search sets seed, data.val_fraction"):
        parse(["--config", str(tmp_path / "p.yaml")])


def test_the_sampler_counts_the_network_the_train_settings_build(tmp_path):
    cfg = parse(["--train.init-channels", "10", "--train.layers", "6", "--data.image-size", "128", "128"])
    sample = sq.sample_config(cfg)
    assert (sample.init_channels, sample.layers, sample.stem) == (10, 6, "imagenet")  # auto stem at 128 px
    assert sample.like == str(ROOT / "darts_nexp" / "genotypes" / "darts_v2.yaml")
    assert sq.sample_config(parse(["--data.image-size", "64", "64"])).stem == "cifar"
    with pytest.raises(UserError, match="--data.image-size"):
        parse(["--like", "true"])  # stem auto, and no input size to pick it from


def test_both_scales_load(tmp_path):
    cpu = parse(["--config", "protocol-cpu"])
    assert (cpu.data.image_size, cpu.search.data.image_size) == ([64, 64], None)
    assert sq.shared_data(cpu.train, cpu.data).data.image_size == [64, 64]
    assert sq.shared_data(cpu.search, cpu.data).data.image_size == [64, 64]  # no size of its own: the shared one
    assert (cpu.search.optimizer, cpu.search.warmup_epochs, cpu.train.optimizer) == ("adamw", 1, "adamw")
    # The CPU scale measures the demo's own search (its comments and docs/benchmarks.md say so); it only adds the
    # perturbation's budget, which the demo's search does not use.
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    protocol = yaml.safe_load((ROOT / "darts_nexp" / "configs" / "protocol-cpu.yaml").read_text())["protocol"]
    search = {k: v for k, v in protocol["search"].items() if not k.startswith("derive_")}
    assert search == demo["search"] and protocol["data"] == demo["data"]
    assert (cpu.search.derive_images, cpu.search.derive_tune_steps, cpu.select_epochs) == (64, 2, 1)
    gpu = parse(["--config", "protocol-gpu", "--dataset", "nexperia",
                    "--data-dir", str(tmp_path)])
    assert (gpu.search.epochs, gpu.search.order, gpu.search.init_channels, gpu.search.layers) == (50, "first", 16, 8)
    assert (gpu.train.epochs, gpu.train.init_channels, gpu.train.layers, gpu.train.batch_size) == (30, 48, 14, 64)
    assert sq.shared_data(gpu.search, gpu.data).data.data_dir == str(tmp_path)
    assert sq.sample_config(gpu).stem == "imagenet"


def _rows(aucs: dict) -> list[dict]:
    kinds = {"s": "searched", "r": "random", "p": "published"}
    return [{"kind": kinds[name[0]], "cell": name, "genotype": f"{name}.yaml", "test_auc": a, "params": 1000,
             "normal_skips": 0} for name, seeds in aucs.items() for a in seeds]


def test_the_summary_measures_training_noise_within_cells_when_there_are_several_seeds():
    # Variances 0.0002 and 0.0008 (the published cell too): pooled std sqrt(0.0005) = 0.0224, over 2 seeds 0.0158.
    summary = sq.summarise(_rows({"s0": [0.90, 0.92], "r0": [0.80, 0.84], "r1": [0.70, 0.72], "p0": [0.60, 0.64]}),
                           2)
    assert "pooled standard deviation of 0.0224 (4 cells)" in summary
    assert "known to about ±0.0158" in summary
    assert "| searched | 1 | 0.9100 |" in summary and "| random | 2 | 0.7650 ± 0.0778 |" in summary
    single = sq.summarise(_rows({"s0": [0.9], "r0": [0.8], "r1": [0.7]}), 1)
    assert "Training noise: not measured" in single
    # A seed without a test AUC leaves the cell's noise to its other seeds, and a cell with one AUC out of it.
    partial = sq.summarise(_rows({"s0": [0.90, 0.92, math.nan], "r0": [0.8, math.nan], "r1": [0.7, 0.7]}), 3)
    assert "pooled standard deviation of 0.0100 (2 cells)" in partial


def test_the_goal_counts_the_sampling_error_of_the_mean_random_cell():
    # Random cells at 0.90 and 1.00 (mean 0.95 at both seeds, spread 0.0535, so 0.0189 for a mean of 8): the chosen
    # cell's +0.0305 is far beyond its paired error over the seeds (0.0005), but within 2 SE once the random cells'
    # sampling error is counted; random search's cell is the best random one.
    random = [sq.Cell("random", f"random-{i:03d}", Path("x"), None) for i in range(8)]
    chosen = sq.Cell("searched", "searched-0", Path("x"), None)
    auc = {c.name: {0: 0.90 + 0.10 * (i % 2), 1: 0.90 + 0.10 * (i % 2)} for i, c in enumerate(random)}
    auc["searched-0"] = {0: 0.980, 1: 0.981}
    mean_random = {0: 0.95, 1: 0.95}
    cell_se = 0.0535 / math.sqrt(8)
    assert sq.paired(auc["searched-0"], mean_random)[1] == pytest.approx(0.0005)
    beat, se, n = sq.beyond(sq.paired(auc["searched-0"], mean_random), cell_se)
    assert beat == pytest.approx(0.0305) and se == pytest.approx(math.hypot(0.0005, cell_se)) and n == 2
    line = sq.goal_line({"retrain, argmax": chosen}, random[1], auc, mean_random, cell_se)
    assert "not met" in line and "does not beat the mean random cell" in line and "loses to random search" in line
    sure = sq.goal_line({"retrain, argmax": chosen}, random[1], auc, mean_random, 0.001)
    assert "does not beat" not in sure and "beats the mean random cell" in sure
    # One random cell has no spread between cells: the paired error stands alone.
    assert sq.beyond((0.01, 0.002, 2), math.nan) == (0.01, 0.002, 2)


def test_a_latency_aware_arm_is_searched_timed_and_judged(tmp_path, monkeypatch):
    """--latency-weights 0 W adds a latency-aware search per seed, with a table measured for the train settings
    and cached; every cell gets its measured and predicted latency, and the summary judges the goal."""
    monkeypatch.setenv("HOME", str(tmp_path))
    rows = protocol_main(tiny_config(tmp_path, "--latency-weights", "0", "50", "--n-random", "1",
                                     "--train-seeds", "0", "1", "--published", "--derive", "argmax"))
    cells = [r["cell"] for r in rows[:3]]
    assert cells == ["searched-0", "searched-0-latency-50", "random-000"] and rows[3]["cell"] == "searched-0"
    assert [r["kind"] for r in rows[:3]] == ["searched", "latency-aware", "random"]
    aware = Genotype.load(rows[1]["genotype"])
    assert aware.meta["latency_weight"] == 50 and aware.meta["predicted_latency_ms"] == rows[1]["predicted_latency_ms"]
    assert all(r["latency_ms"] > 0 and r["predicted_latency_ms"] > 0 for r in rows)
    assert [p.name for p in (tmp_path / ".cache" / "darts-nexp" / "latency").iterdir()]
    summary = (tmp_path / "sq" / "summary.md").read_text()
    assert "| latency-aware | 1 |" in summary and "- searched-0-latency-50: test AUC" in summary
    assert "the median random cell's" in summary and ("the goal is met" in summary or "the goal is not met" in summary)

