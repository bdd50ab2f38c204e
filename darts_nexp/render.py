"""Draw the normal and reduction cells of a genotype with graphviz (the figures of Liu et al., 2018, fig. 4-5):
normal.gv and reduce.gv, plus .svg and .png when graphviz's `dot` program is installed."""
from __future__ import annotations

import shutil
from pathlib import Path

import graphviz

from .io import write_atomic
from .space import Genotype

INSTALL_HINT = "graphviz 'dot' not found: wrote .gv files only; for SVG/PNG install it (apt-get install graphviz)"


def cell_graph(edges, concat, title: str) -> graphviz.Digraph:
    """A cell as a graph: inputs c_{k-2}, c_{k-1}, intermediate nodes 0.., output c_{k}; edges named by their op."""
    g = graphviz.Digraph(name=title, graph_attr={"rankdir": "LR", "label": title},
                         node_attr={"style": "filled", "shape": "rect", "align": "center", "fontsize": "20",
                                    "height": "0.5", "width": "0.5", "penwidth": "2"},
                         edge_attr={"fontsize": "16"})
    inputs = ["c_{k-2}", "c_{k-1}"]
    for name in inputs:
        g.node(name, fillcolor="darkseagreen2")
    nodes = len(edges) // 2
    for i in range(nodes):
        g.node(str(i), fillcolor="lightblue")
    g.node("c_{k}", fillcolor="palegoldenrod")

    def label(index: int) -> str:
        return inputs[index] if index < 2 else str(index - 2)

    for k, (op, src) in enumerate(edges):
        g.edge(label(src), str(k // 2), label=op, fillcolor="gray")
    for index in concat:
        g.edge(label(index), "c_{k}", fillcolor="gray")
    return g


def render_genotype(genotype: Genotype, out_dir: Path | str) -> tuple[list[Path], bool]:
    """Write normal.* and reduce.* into out_dir; returns (paths written, whether `dot` was there for SVG/PNG)."""
    out_dir = Path(out_dir)
    has_dot = shutil.which("dot") is not None
    paths = []
    for cell in ("normal", "reduce"):
        g = cell_graph(getattr(genotype, cell), getattr(genotype, cell + "_concat"), cell)
        paths.append(write_atomic(out_dir / f"{cell}.gv", g.source.encode()))
        if has_dot:
            for fmt in ("svg", "png"):
                paths.append(write_atomic(out_dir / f"{cell}.{fmt}", g.pipe(format=fmt)))
    return paths, has_dot


if __name__ == "__main__":  # python -m darts_nexp.render, as darts-nexp render
    from .cli.render import main

    main()
