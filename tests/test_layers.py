"""The package's layering (docs/architecture.md), read from the source of every module, function-local imports
included: no import circle, no import of a higher layer, and nothing outside cli/ imports cli/ (but the entry
shims that exist to run a command)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "darts_nexp"

# Lowest first. A module may import its own package and the layers below its own; not a sibling of its layer.
LAYERS = [
    {"errors", "version", "launcher"},
    {"io", "page"},
    {"config", "metrics", "calibration", "band", "runtime", "localisation"},
    {"distributed", "runs", "plots"},
    {"loops"},
    {"space", "data"},
    {"supernet", "final", "render", "report"},
    {"bilevel", "models"},
    {"deploy"},
    {"engine"},
    {"cli"},
]
# `python -m darts_nexp...` and the old module commands: they exist to run a command of cli/.
SHIMS = {"__main__", "evaluate", "explain", "features", "ensemble", "data.__main__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _script_guard(node) -> bool:
    """`if __name__ == "__main__":`, whose body runs only when the module is run as a script."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__")


def _nodes(tree):
    """Every node of the module but those under a script guard (they import the command that `python -m` runs)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        todo += [child for child in ast.iter_child_nodes(node) if not _script_guard(child)]


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The darts_nexp modules `name` imports anywhere in its file, function-local imports included, script guards
    not (relative names without 'darts_nexp.')."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from . import x` and `from .a import b` may name modules as well as objects.
            targets = [f"{stem}.{a.name}".strip(".") for a in node.names] + [stem]
        else:
            continue
        for target in targets:
            if isinstance(node, ast.Import) or node.level == 0:
                if not target.startswith("darts_nexp"):
                    continue
                target = target.removeprefix("darts_nexp").lstrip(".")
            if target in known:
                found.add(target)
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def layer_of(name: str) -> int | None:
    top = name.split(".")[0]
    return next((i for i, layer in enumerate(LAYERS) if top in layer), None)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_every_module_has_a_layer():
    unplaced = sorted(n for n in modules() if n and n not in SHIMS and layer_of(n) is None)
    assert not unplaced, f"modules outside LAYERS: {unplaced}"


def test_no_import_circle():
    edges = graph()
    assert find_cycle(edges) is None, f"import circle: {' -> '.join(find_cycle(edges))}"


def test_no_import_of_a_higher_layer_or_a_sibling():
    wrong = []
    for name, targets in graph().items():
        if not name or name in SHIMS:
            continue
        mine, top = layer_of(name), name.split(".")[0]
        for target in targets:
            if target and target.split(".")[0] != top and layer_of(target) >= mine:
                wrong.append(f"{name} -> {target}")
    assert not wrong, f"imports that run upward or sideways: {wrong}"


def test_nothing_outside_cli_imports_cli():
    wrong = [f"{name} -> {t}" for name, targets in graph().items() for t in targets
             if t.split(".")[0] == "cli" and name.split(".")[0] != "cli" and name not in SHIMS]
    assert not wrong, f"imports of cli/ from outside it: {wrong}"


@pytest.mark.parametrize("source, rule", [
    ("from .cli.main import COMMANDS\n", test_nothing_outside_cli_imports_cli),
    ("def f():\n    from .engine import train\n", test_no_import_of_a_higher_layer_or_a_sibling),
])
def test_the_rules_catch_a_bad_import(monkeypatch, source, rule):
    """A function-local import of a higher layer, planted in metrics.py, breaks the rules (read, not run)."""
    original = Path.read_text

    def planted(self, *args, **kwargs):
        text = original(self, *args, **kwargs)
        return text + "\n" + source if self == PACKAGE / "metrics.py" else text

    monkeypatch.setattr(Path, "read_text", planted)
    with pytest.raises(AssertionError):
        rule()


def test_a_planted_circle_is_found():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
