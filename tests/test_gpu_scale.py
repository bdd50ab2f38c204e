"""benchmarks/gpu_scale.py on the CPU at toy sizes: every case runs in its own process and gives its figures, and a
case that fails is a row with its error while the others go on."""
import json

from test_data_util import load_benchmark

gs = load_benchmark("gpu_scale")

TOY = ["--device", "cpu", "--sizes", "16", "16", "--steps", "1", "--warmup", "0", "--threads", "1",
       "--search-channels", "4", "--search-layers", "2", "--search-batch", "4", "--train-batch", "4",
       "--train-channels", "4", "--train-layers", "2"]


def test_every_case_reports_its_figures(tmp_path, capsys):
    rows = gs.main([*TOY, "--variants", "no-cl", "grad-ckpt", "--out", str(tmp_path / "g.json")])
    assert [(r["task"], r["variant"]) for r in rows] == [(task, variant) for task in ("search", "train")
                                                         for variant in ("no-cl", "grad-ckpt")]
    for r in rows:
        assert "error" not in r, r
        # On the CPU the peak is the case process's resident peak above its start.
        assert r["step_s"] > 0 and r["images_per_s"] == 4 / r["step_s"] and r["peak_mb"] > 0
        epochs, images = (50, 34_457 / 2) if r["task"] == "search" else (50, 34_457 * 0.8)
        assert abs(r["projected_h"] - images / 4 * r["step_s"] * epochs / 3600) < 1e-9
    assert json.loads((tmp_path / "g.json").read_text())["rows"] == json.loads(json.dumps(rows))
    assert "| search | 16x16 | grad-ckpt |" in capsys.readouterr().out


def test_a_failing_case_is_a_row_with_its_error():
    rows = gs.main([*TOY, "--tasks", "search", "train", "--variants", "base", "--partial-channels", "3"])
    assert "must divide" in rows[0]["error"] and "error" not in rows[1]
    assert "failed: " in gs.table(rows)
