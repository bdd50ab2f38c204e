"""TensorBoard records of a search epoch: losses, AUCs, learning rates, every edge's softmax weights, the genotype."""
from __future__ import annotations

import yaml

from ..space import PRIMITIVES, edge_names
from ..supernet.network import node_softmax


def log_epoch(writer, model, stats: dict, genotype, architect) -> None:
    epoch = int(stats["epoch"])
    for split in ("train", "val"):
        writer.add_scalar(f"loss/{split}", stats[f"{split}_loss"], epoch)
        writer.add_scalar(f"auc/{split}", stats[f"{split}_auc"], epoch)
    writer.add_scalar("loss/arch", stats["arch_loss"], epoch)
    writer.add_scalar("collapse/normal_skips", stats["normal_skips"], epoch)
    writer.add_scalar("search/edges_changed", stats["changed"], epoch)
    writer.add_scalar("lr/weights", stats["lr"], epoch)
    writer.add_scalar("lr/alphas", architect.optimizer.param_groups[0]["lr"], epoch)
    writer.add_scalar("memory/peak_mb", stats["peak_mb"], epoch)
    if "expected_latency_ms" in stats:
        writer.add_scalar("search/expected_latency_ms", stats["expected_latency_ms"], epoch)
    names = edge_names(model.nodes)
    for cell, alpha in model.arch_state().items():
        if alpha.dim() == 1:  # the edge betas of edge normalisation
            for e, w in enumerate(node_softmax(alpha, model.nodes).tolist()):
                writer.add_scalar(f"{cell}/{names[e]}", w, epoch)
            continue
        weights = alpha.softmax(dim=-1)  # (edges, len(PRIMITIVES))
        for e, row in enumerate(weights.tolist()):
            for op, w in zip(PRIMITIVES, row):
                writer.add_scalar(f"{cell}/{names[e]}/{op}", w, epoch)
    text = yaml.safe_dump(genotype.to_dict(), sort_keys=False, default_flow_style=None)
    writer.add_text("genotype", "    " + text.replace("\n", "\n    "), epoch)  # indented: shown as code
    writer.flush()
