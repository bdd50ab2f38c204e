"""darts-nexp report: one self-contained page of runs, every part drawn where its data exist and a line where they do
not, and the page checked in a real browser (headless Chromium)."""
import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest
from test_data_util import fails, make_layout
from test_runs import TINY, V1, search_args, train_args

from darts_nexp.cli.report import main as report
from darts_nexp.cli.search import main as search
from darts_nexp.cli.train import main as train
from darts_nexp.engine.report_search import logged_alphas
from darts_nexp.space import PRIMITIVES

TRAIN_PARTS = ("Model and size", "Cells", "Learning curves", "Test scores", "Confusion matrix at the threshold",
               "Calibration", "Grad-CAM gallery", "Localisation of the defects")
SEARCH_PARTS = ("Supernet curves", "Alphas", "Exported cells")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A one-epoch training run and search on the synthetic set, and a one-epoch training run on a plain two-folder
    layout (other test images)."""
    base = tmp_path_factory.mktemp("report")
    train(train_args(base / "data", base / "train"))
    search(search_args(base / "data", base / "search"))
    make_layout(base / "plain", n_good=40, n_defect=20, n_test=0)
    train([*TINY, "--data-dir", str(base / "plain"), "--dataset", "nexperia", "--out", str(base / "plain-train"),
           "--genotype", V1, "--layers", "2"])
    return base


def headings(html: str, level: int = 3) -> list[str]:
    return re.findall(rf"<h{level}[^>]*>([^<]*)</h{level}>", html)


def notes(html: str) -> list[str]:
    return re.findall(r'<p class="missing">([^<]*)</p>', html)


def self_contained(html: str) -> None:
    """Every image embedded, nothing fetched: the page opens from disk with no network."""
    assert all(s.startswith("data:image/") for s in re.findall(r'src="([^"]*)"', html))
    assert not re.search(r'(href|src)="(https?:)?//', html)


def test_a_training_run_shows_every_part_in_a_page_of_its_own(runs, tmp_path, capsys):
    run = shutil.copytree(runs / "train", tmp_path / "train")
    out = report([str(run)])
    assert out == run / "report.html" and f"report: {out}" in capsys.readouterr().out
    html = out.read_text()
    self_contained(html)
    drawings = 2 if shutil.which("dot") else 0  # the cells, when graphviz can draw them
    assert headings(html) == list(TRAIN_PARTS) and html.count("<img ") == drawings + 4  # 3 figures, the gallery
    # Nothing is missing: without explain's localisation.json the page scores the Grad-CAM maps itself.
    assert notes(html) == []
    assert "pointing game" in html and "centre prior" in html
    for shown in ("parameters", "multiply-adds", "latency", "TPR at 1% FPR", "TPR at 5% FPR", "bootstrap",
                  "caught (TP)", "missed (FN)", "ECE", 'alt="Grad-CAM gallery"', 'alt="reliability diagram"'):
        assert shown in html, shown


def test_a_search_shows_its_supernet_alphas_and_cells(runs, tmp_path):
    html = report([str(runs / "search"), "--out", str(tmp_path / "search.html")]).read_text()
    self_contained(html)
    assert headings(html) == list(SEARCH_PARTS) and notes(html) == []
    epochs, edges = logged_alphas(runs / "search")
    assert list(epochs) == [1] and len(edges) == 14
    for weights in epochs[1].values():  # (edges, ops): each edge's softmax over the operations
        assert weights.shape == (14, len(PRIMITIVES)) and weights.sum(axis=1) == pytest.approx(1, abs=1e-5)


def test_a_search_without_its_events_reads_the_last_alphas_from_its_checkpoint(runs, tmp_path):
    run = shutil.copytree(runs / "search", tmp_path / "search", ignore=shutil.ignore_patterns("events.out.*"))
    html = report([str(run)]).read_text()
    assert "from checkpoint.pt, which keeps the last epoch only" in html and "alphas" in html


def test_runs_side_by_side_say_when_their_test_images_differ(runs, tmp_path):
    html = report([str(runs / "train"), str(runs / "plain-train"), str(runs / "search")]).read_text()
    assert (tmp_path / "report.html").is_file()  # several runs: the page goes to the current folder
    comparison = html.split('<h2 id="run-0">')[0]
    assert "95% interval (bootstrap over the test images)" in comparison and "ROC curves overlaid" in comparison
    assert "scored on different test sets" in comparison and "Left out: search" in comparison
    for name in ("<td>train</td>", "<td>plain-train</td>"):
        assert name in comparison
    same = report([str(runs / "train"), str(runs / "train"), "--out", str(tmp_path / "same.html")]).read_text()
    assert "were scored on the same 60 test images" in same


def test_a_predictions_csv_that_is_not_text_costs_its_parts_not_the_page(runs, tmp_path):
    run = shutil.copytree(runs / "train", tmp_path / "train")
    (run / "predictions.csv").write_bytes(b"id,label,defect_score\n\xff\xfe,1,0.5\n")
    html = report([str(run)]).read_text()
    assert any("is not UTF-8 text" in n for n in notes(html)) and "Learning curves" in headings(html)


def damage(run: Path, how: str) -> None:
    if how == "unfinished":
        info = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**info, "status": "running"}))
        for name in ("metrics.json", "predictions.csv", "best.pt", "last.pt"):
            (run / name).unlink()
    elif how == "run.json":
        (run / "run.json").write_text("{not json")
    elif how == "files":
        (run / "history.yaml").write_text("- [unclosed")
        (run / "metrics.json").write_text("[]")
    elif how == "predictions":
        (run / "predictions.csv").write_text("id,label,defect_score\nx,2,0.5\n")
    elif how == "empty":
        shutil.rmtree(run)
        run.mkdir()


@pytest.mark.parametrize("how,says,still", [
    ("unfinished", ["has not finished", "no best.pt or last.pt", "no predictions.csv"], "learning curves"),
    ("run.json", ["run.json is damaged", "read as a search run by its files"], "alphas"),
    ("files", ["history.yaml is not valid YAML", "metrics.json is damaged", "no threshold in metrics.json"],
     "ROC, precision-recall and score histograms"),
    ("predictions", ["predictions.csv is damaged"], "learning curves"),
    ("empty", ["holds no darts-nexp run", "(it is empty)"], None),
])
def test_an_unfinished_or_damaged_run_says_what_is_missing_and_renders_the_rest(runs, tmp_path, how, says, still):
    kind = "search" if how == "run.json" else "train"
    run = shutil.copytree(runs / kind, tmp_path / kind)
    damage(run, how)
    html = report([str(run), "--gallery", "0"]).read_text()
    self_contained(html)
    for line in says:
        assert any(line in n for n in notes(html)), (line, notes(html))
    assert still is None or f'alt="{still}"' in html


def test_a_protocol_folder_shows_its_summary_table_and_plot(runs, tmp_path):
    folder = tmp_path / "protocol"
    folder.mkdir()
    (folder / "summary.md").write_text("# Search quality\n\n| group | n |\n|---|---|\n| searched | 3 |\n\n"
                                       "- a <b> line\n")
    (folder / "rows.csv").write_text("kind,cell,test_auc\nsearched,searched-s0,0.97\n")
    shutil.copy(runs / "train" / "roc.png", folder / "pareto.png")
    html = report([str(folder)]).read_text()
    self_contained(html)
    assert "<td>searched</td>" in html and "<td>searched-s0</td>" in html and "&lt;b&gt;" in html
    assert any("no candidates.csv" in n for n in notes(html))


def test_bad_input_is_one_error_line(runs, tmp_path, capsys):
    fails(capsys, report, [], "no run given")
    fails(capsys, report, [tmp_path / "nowhere"], "is not a folder")
    fails(capsys, report, [runs / "train", "--out", tmp_path], "is a folder")
    fails(capsys, report, [runs / "train", "--gallery", "-1"], "--gallery must be 0 or more")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("Chromium is not installed (make test installs Debian's chromium when run as root; else "
                "apt-get install chromium)")


# Put first in <head>: it notes every error (a script's, an image that fails to load, console.error) and, once the
# page has loaded, writes the images that did not load and the errors into the page, where --dump-dom shows them.
CHECK = """<script>
const errors = [];
addEventListener("error", e => errors.push(e.message || "failed to load " + (e.target.alt || e.target.tagName)), true);
const consoleError = console.error;
console.error = (...args) => { errors.push(args.join(" ")); consoleError(...args); };
addEventListener("load", () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt);
  document.body.dataset.images = document.images.length;
  document.body.dataset.broken = JSON.stringify(broken);
  document.body.dataset.errors = JSON.stringify(errors);
});
</script>"""


def browse(page: Path, *flags: str) -> subprocess.CompletedProcess:
    # Flags of a closed machine: no GPU, no sandbox for root, and no background traffic.
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={page.parent / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
                           *flags, page.as_uri()], capture_output=True, text=True, timeout=120)


def test_the_page_loads_in_chromium_with_every_image_and_no_error(runs, tmp_path):
    page = report([str(runs / "train"), str(runs / "search"), "--out", str(tmp_path / "report.html")])
    shot = browse(page, f"--screenshot={tmp_path / 'page.png'}", "--window-size=1200,3000")
    assert (tmp_path / "page.png").stat().st_size > 10_000, shot.stderr[-2000:]
    checked = tmp_path / "checked.html"
    checked.write_text(page.read_text().replace("<head>", "<head>\n" + CHECK, 1))
    dom = browse(checked, "--dump-dom", "--virtual-time-budget=10000")
    checks = dict(re.findall(r'data-(images|broken|errors)="([^"]*)"', dom.stdout))
    assert len(checks) == 3, dom.stdout[-500:] + dom.stderr[-2000:]
    assert int(checks["images"]) == page.read_text().count("<img ") >= 10
    assert json.loads(unescape(checks["broken"])) == [] and json.loads(unescape(checks["errors"])) == []
    console = [line for line in dom.stderr.splitlines() + shot.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
