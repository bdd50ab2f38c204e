"""Every third-party module the package, its commands, benchmarks and tests import is declared in setup.py."""
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml"}


def requirements() -> tuple[list[str], list[str]]:
    """(install_requires, extras_require["test"]) of setup.py, as written there."""
    call = next(n for n in ast.walk(ast.parse((ROOT / "setup.py").read_text())) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "setup")
    kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ("install_requires", "extras_require")}
    return kw["install_requires"], kw["extras_require"]["test"]


def declared() -> tuple[set[str], set[str]]:
    """The same, as lower-case distribution names."""
    return tuple({r.split(">=")[0].strip().lower() for r in reqs} for reqs in requirements())


def third_party_imports(paths) -> dict[str, str]:
    """distribution name -> one file that imports it."""
    found = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                local = (ROOT / path.relative_to(ROOT).parts[0] / f"{top}.py").is_file()  # a script's neighbour
                if top in sys.stdlib_module_names or top == "darts_nexp" or local:
                    continue
                found.setdefault(DISTRIBUTIONS.get(top, top).lower(), str(path.relative_to(ROOT)))
    return found


def test_package_imports_are_declared():
    runtime, _ = declared()
    files = [*ROOT.glob("darts_nexp/**/*.py"), *ROOT.glob("benchmarks/*.py"), ROOT / "search.py",
             ROOT / "train_final.py"]
    missing = {d: f for d, f in third_party_imports(files).items() if d not in runtime}
    assert not missing, f"imported but not in setup.py install_requires: {missing}"


def test_test_imports_are_declared():
    runtime, test = declared()
    missing = {d: f for d, f in third_party_imports(ROOT.glob("tests/*.py")).items() if d not in runtime | test}
    assert not missing, f"imported by tests but not declared: {missing}"


def test_every_requirement_has_a_lower_bound():
    runtime, test = requirements()
    assert all(">=" in r for r in runtime + test), runtime + test
