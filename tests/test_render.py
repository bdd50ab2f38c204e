"""Cell drawings: the .gv source has the expected nodes and edges; the render command writes them or fails clearly."""
import re
from pathlib import Path

import pytest

import darts_nexp.render as render
from darts_nexp.cli.render import main as render_main
from darts_nexp.space import Genotype

GENOTYPE_FILES = sorted(Path(__file__).resolve().parents[1].glob("genotypes/*.yaml"))
EDGE = re.compile(r'^\s*("?[^"\s]+"?) -> ("?[^"\s]+"?)(?: \[label=(\w+))?', re.M)


def edges(source: str) -> list[tuple[str, str, str | None]]:
    return [(a.strip('"'), b.strip('"'), op or None) for a, b, op in EDGE.findall(source)]


@pytest.mark.parametrize("path", GENOTYPE_FILES, ids=lambda p: p.name)
def test_drawn_cells_have_the_genotype_edges(path, tmp_path, monkeypatch):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)  # .gv only: fast and independent of dot
    g = Genotype.load(path)
    paths, has_dot = render.render_genotype(g, tmp_path)
    assert not has_dot and sorted(p.name for p in paths) == ["normal.gv", "reduce.gv"]
    names = ["c_{k-2}", "c_{k-1}", "0", "1", "2", "3"]
    for cell in ("normal", "reduce"):
        source = (tmp_path / f"{cell}.gv").read_text()
        drawn = edges(source)
        expected = [(names[src], str(k // 2), op) for k, (op, src) in enumerate(getattr(g, cell))]
        expected += [(names[i], "c_{k}", None) for i in getattr(g, cell + "_concat")]
        assert sorted(drawn, key=str) == sorted(expected, key=str)
        for node in names + ["c_{k}"]:
            assert re.search(rf'^\s*"?{re.escape(node)}"? \[', source, re.M), node


def test_darts_v2_normal_cell_edges():
    g = Genotype.load(Path(__file__).resolve().parents[1] / "genotypes/darts_v2.yaml")
    drawn = edges(render.cell_graph(g.normal, g.normal_concat, "normal").source)
    assert ("2", "3", "dil_conv_3x3") not in drawn and ("0", "3", "dil_conv_3x3") in drawn  # node 2 is drawn as 0
    assert ("c_{k-2}", "0", "sep_conv_3x3") in drawn and len(drawn) == 12


def test_render_cli_writes_both_cells(tmp_path, capsys):
    render_main([str(GENOTYPE_FILES[0]), "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    for cell in ("normal", "reduce"):
        assert (tmp_path / "out" / f"{cell}.gv").is_file() and f"{cell}.gv" in printed
        if render.shutil.which("dot"):
            assert (tmp_path / "out" / f"{cell}.svg").read_text().lstrip().startswith("<")
            assert (tmp_path / "out" / f"{cell}.png").read_bytes()[:4] == b"\x89PNG"


def test_without_dot_one_line_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    render_main([str(GENOTYPE_FILES[0]), "--out", str(tmp_path)])
    lines = [line for line in capsys.readouterr().out.splitlines() if "graphviz" in line]
    assert len(lines) == 1 and "apt-get install graphviz" in lines[0]
    assert not list(tmp_path.glob("*.svg"))


@pytest.mark.parametrize("text,message", [
    ("normal: [[conv_9x9, 0], [sep_conv_3x3, 1]]\nreduce: [[max_pool_3x3, 0], [max_pool_3x3, 1]]\n", "conv_9x9"),
    ("normal: [[sep_conv_3x3, 0], [sep_conv_3x3, 5]]\nreduce: [[max_pool_3x3, 0], [max_pool_3x3, 1]]\n", "input"),
    ("normal: [oops\n", "not valid YAML"),
])
def test_malformed_genotype_is_a_clean_error(text, message, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(SystemExit) as stop:
        render_main([str(bad), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and "Traceback" not in err


def test_missing_genotype_file_is_a_clean_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        render_main([str(tmp_path / "none.yaml"), "--out", str(tmp_path)])
    assert stop.value.code == 2 and "not found" in capsys.readouterr().err
