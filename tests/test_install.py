"""A non-editable install runs every command: the package, its shipped configs and genotypes, and the `darts-nexp`
console script, with nothing of the checkout on the path."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from darts_nexp.cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import contextlib, io, sys
import darts_nexp
from darts_nexp.cli.main import COMMANDS, main
assert darts_nexp.__file__.startswith(sys.argv[1]), darts_nexp.__file__
for name in COMMANDS:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main([name, "--help"])
        except SystemExit as e:
            assert e.code in (0, None), (name, e.code)
    assert f"darts-nexp {name}" in out.getvalue(), name
main(["train", "--genotype", "darts_v2", "--config", "smoke", "--summary", "--image-size", "32", "32"])
"""


def test_a_plain_install_runs_every_command(tmp_path):
    source = tmp_path / "source"  # built from a copy: pip writes build files beside setup.py
    source.mkdir()
    for name in ("setup.py", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "darts_nexp", source / "darts_nexp", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(source)], check=True, capture_output=True, timeout=300)
    shutil.rmtree(source)
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-c", CHECK, str(target)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "parameters:" in done.stdout and "darts_v2" in done.stdout.lower()
    script = subprocess.run([str(target / "bin" / "darts-nexp"), "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert script.returncode == 0 and "protocol" in script.stdout, script.stderr[-2000:]


def test_the_overview_loads_no_command():
    """`darts-nexp --help` lists every command from its module's source, without loading the commands, the engine
    or torch (seconds of imports)."""
    code = ("import sys\nfrom darts_nexp.cli.main import main\nmain(['--help'])\n"
            "print('loaded:', *[m for m in sys.modules if m.startswith(('darts_nexp.engine', 'torch'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert all(f"  {name} " in out for name in COMMANDS)
    assert out.rstrip().splitlines()[-1] == "loaded:"
