"""Figures a person would rather look at than read: the ROC curve with its operating point, Grad-CAM maps over the
images, and a t-SNE map of the features.

matplotlib draws off-screen (the Agg backend) and each figure is written atomically as a PNG.
"""
from __future__ import annotations

import io

import numpy as np

from .metrics import auc, confusion_metrics, roc
from .io import write_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> None:
    png = io.BytesIO()
    fig.savefig(png, dpi=120, format="png")
    _pyplot().close(fig)
    write_atomic(path, png.getvalue())


def plot_roc(labels: np.ndarray, scores: np.ndarray, path, title: str = "ROC",
             threshold: float | None = None) -> None:
    """Save the ROC curve with its AUC in the legend (and the operating point of `threshold`) as an image."""
    plt = _pyplot()
    fpr, tpr, _ = roc(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, lw=2, label=f"AUC = {auc(labels, scores):.4f}")
    ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="chance")
    if threshold is not None:
        m = confusion_metrics(labels, scores, threshold)
        ax.plot([m["fpr"]], [m["recall"]], "o", color="C3", label=f"threshold {threshold:.3g}")
    ax.set(xlabel="false positive rate (good parts rejected)", ylabel="true positive rate (defects caught)",
           title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    fig.tight_layout()
    _save(fig, path)


def plot_saliency(rows: list[tuple[str, list[dict]]], path, title: str) -> None:
    """A grid of images with their saliency maps over them: one row per (row title, panels); each panel is
    {"image": (H, W) 0..1, "map": (H, W) >= 0, "box": x1, y1, x2, y2 or None, "caption": str}."""
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    cols = max(len(panels) for _, panels in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.2 * cols, 2.9 * len(rows)), squeeze=False)
    for r, (row_title, panels) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            if c >= len(panels):
                continue
            p = panels[c]
            peak = p["map"].max()
            ax.imshow(p["image"], cmap="gray", vmin=0, vmax=1)
            ax.imshow(p["map"] / peak if peak > 0 else p["map"], cmap="jet", alpha=0.4, vmin=0, vmax=1)
            if p["box"] is not None:
                x1, y1, x2, y2 = p["box"]
                ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, ec="white", lw=1.2))
            ax.set_title(p["caption"], fontsize=6)
        axes[r][0].text(-0.08, 0.5, row_title, transform=axes[r][0].transAxes, rotation=90, va="center",
                        ha="right", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_embedding(points: np.ndarray, labels: np.ndarray, path, title: str) -> None:
    """A 2-D embedding (N, 2) of images as dots, good and defect in two colours."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for label, name, colour in ((0, "good", "C0"), (1, "defect", "C3")):
        pick = labels == label
        ax.scatter(points[pick, 0], points[pick, 1], s=6, c=colour, alpha=0.6, label=f"{name} ({int(pick.sum())})")
    ax.set(title=title, xticks=[], yticks=[])
    ax.legend(loc="best", markerscale=2)
    fig.tight_layout()
    _save(fig, path)


KIND_COLOURS = {"searched": "tab:blue", "searched-perturbation": "tab:cyan", "latency-aware": "tab:green",
                "random": "tab:grey", "random-search": "tab:purple", "published": "tab:orange"}


def plot_pareto(points: list[dict], path, title: str) -> None:
    """Test AUC against latency, one point per cell (dicts with cell, kind, auc, latency_ms), coloured by kind."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for kind, colour in KIND_COLOURS.items():
        mine = [p for p in points if p["kind"] == kind and np.isfinite(p["auc"])]
        if mine:
            ax.scatter([p["latency_ms"] for p in mine], [p["auc"] for p in mine], c=colour, label=kind, s=36)
            for p in mine:
                ax.annotate(p["cell"], (p["latency_ms"], p["auc"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
    ax.set_xlabel("latency of the final network, ms per image at batch 1")
    ax.set_ylabel("test AUC (mean over training seeds)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
