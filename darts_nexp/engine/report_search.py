"""The parts of `darts-nexp report` for a search run: the supernet's curves, its alphas as heatmaps, how the cell
moved, and the exported cells.

The alphas of every epoch are read from the run's TensorBoard events, where each epoch logs the softmax weight of
every operation on every edge (engine/search_log.py); checkpoint.pt holds the last epoch's alone, and is read when
the events are gone.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import page
from ..plots import alphas_png, epochs_png
from ..runs import GENOTYPE, HISTORY, SEARCH_CHECKPOINT, load_checkpoint
from ..space import PRIMITIVES, Genotype, edge_names
from .report_parts import Missing, cells, csv_table, epochs_of, genotype_cells, info_of, part
from .search import DERIVED
from .select import CANDIDATES

CELLS = ("normal", "reduce")


def curves_part(folder: Path) -> list[str]:
    epochs = epochs_of(folder, "search", "curves")
    return [page.para("The supernet is scored on the architecture half of the training images after each epoch "
                      "(docs/search.md); an edge changes when its operation or its input does.", "help"),
            page.image(epochs_png(epochs, [
                ("supernet ROC AUC", [("train_auc", "weight half"), ("val_auc", "architecture half (validation)")]),
                ("loss", [("train_loss", "weights"), ("val_loss", "validation"), ("arch_loss", "architecture")]),
                ("the cell", [("changed", "edges changed since the epoch before"),
                              ("normal_skips", "skip connections in the normal cell")])]), "search curves")]


def logged_alphas(folder: Path) -> tuple[dict[int, dict[str, np.ndarray]], list[str]]:
    """({epoch: {cell: (edges, ops) softmax weights}}, edge names) from the run's TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0: keep every epoch
    events.Reload()
    tags = [t for t in events.Tags()["scalars"] if t.startswith("alpha_") and t.count("/") == 2]
    edges = list(dict.fromkeys(t.split("/")[1] for t in tags))  # in the order the search logged them
    epochs: dict[int, dict[str, np.ndarray]] = {}
    for tag in tags:
        cell, edge, op = tag.removeprefix("alpha_").split("/")
        for event in events.Scalars(tag):
            weights = epochs.setdefault(event.step, {}).setdefault(cell, np.zeros((len(edges), len(PRIMITIVES))))
            weights[edges.index(edge), PRIMITIVES.index(op)] = event.value
    return epochs, edges


def alphas_part(folder: Path) -> list[str]:
    epochs, edges = logged_alphas(folder)
    if epochs:
        first, last = min(epochs), max(epochs)
        shown = [first, last] if last != first else [first]
        panels = [(f"{cell} cell, epoch {e}", epochs[e][cell]) for cell in CELLS for e in shown if cell in epochs[e]]
        source = "from the run's TensorBoard events"
    else:
        if not (folder / SEARCH_CHECKPOINT).is_file():
            raise Missing(f"no TensorBoard events and no {SEARCH_CHECKPOINT}, so no alphas: no epoch has finished, "
                          f"or their files were moved")
        ckpt = load_checkpoint(folder / SEARCH_CHECKPOINT, ("search",), hint="the alphas cannot be read")
        edges = edge_names(ckpt["model_args"]["nodes"])
        panels = [(f"{cell} cell, epoch {ckpt['epoch'] + 1}", ckpt["alphas"][f"alpha_{cell}"].softmax(-1).numpy())
                  for cell in CELLS]
        source = f"from {SEARCH_CHECKPOINT}, which keeps the last epoch only (the TensorBoard events are gone)"
    return [page.para(f"The softmax weight of each operation on each edge (in hundredths; an edge i->j feeds node j "
                      f"from node i, 0 and 1 being the cell's inputs), {source}. The genotype keeps, for every node, "
                      f"the two strongest edges with their strongest operation other than none.", "help"),
            page.image(alphas_png(panels, edges, list(PRIMITIVES)), "alphas")]


def cells_part(folder: Path) -> list[str]:
    if (folder / GENOTYPE).is_file():
        return genotype_cells(folder / GENOTYPE)
    epochs = epochs_of(folder, "search", "cells (the search has not finished an epoch)")
    note = page.missing(f"no {GENOTYPE}: the search has not finished; these are the cells of its last finished "
                        f"epoch, {epochs[-1].get('epoch')}")
    return [note, *cells(Genotype.from_dict(epochs[-1]["genotype"], f"{folder / HISTORY}, last epoch"))]


def candidates_part(folder: Path) -> list[str]:
    return [page.para("One search per seed, and the cell chosen among them (docs/search.md).", "help"),
            *csv_table(folder / CANDIDATES, "table of the candidates")]


def search_parts(folder: Path) -> list[str]:
    seeds = info_of(folder).get("searches")
    if seeds:
        # The parent of one search per seed: its choice and cell; report.py adds each search after it.
        return [part("Candidates", candidates_part, folder),
                part("Exported cells", genotype_cells, folder / GENOTYPE)]
    parts = [part("Supernet curves", curves_part, folder), part("Alphas", alphas_part, folder),
             part("Exported cells", cells_part, folder)]
    if (folder / DERIVED).is_file():
        parts.append(part("Cells derived by perturbation (darts-nexp derive)", genotype_cells, folder / DERIVED))
    return parts
