"""Figures a person would rather look at than read: the ROC curve with its operating point, Grad-CAM maps over the
images, a t-SNE map of the features, and the figures of `darts-nexp report`.

matplotlib draws off-screen (the Agg backend). The plot_* functions write a figure atomically as a PNG file; the
*_png ones return the PNG's bytes, which the report embeds in its page.
"""
from __future__ import annotations

import io

import numpy as np

from .metrics import auc, confusion_metrics, precision_recall, roc
from .io import write_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig, dpi: int = 120) -> bytes:
    png = io.BytesIO()
    fig.savefig(png, dpi=dpi, format="png")
    _pyplot().close(fig)
    return png.getvalue()


def _save(fig, path) -> None:
    write_atomic(path, _png(fig))


def plot_roc(labels: np.ndarray, scores: np.ndarray, path, title: str = "ROC",
             threshold: float | None = None) -> None:
    """Save the ROC curve with its AUC in the legend (and the operating point of `threshold`) as an image."""
    fig, ax = _pyplot().subplots(figsize=(5, 5))
    _roc_axes(ax, labels, scores, title, threshold)
    fig.tight_layout()
    _save(fig, path)


def _roc_axes(ax, labels: np.ndarray, scores: np.ndarray, title: str, threshold: float | None) -> None:
    fpr, tpr, _ = roc(labels, scores)
    ax.plot(fpr, tpr, lw=2, label=f"AUC = {auc(labels, scores):.4f}")
    ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="chance")
    if threshold is not None:
        m = confusion_metrics(labels, scores, threshold)
        ax.plot([m["fpr"]], [m["recall"]], "o", color="C3", label=f"threshold {threshold:.3g}")
    ax.set(xlabel="false positive rate (good parts rejected)", ylabel="true positive rate (defects caught)",
           title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")


def plot_saliency(rows: list[tuple[str, list[dict]]], path, title: str) -> None:
    """A grid of images with their saliency maps over them (saliency_png), as a file."""
    write_atomic(path, saliency_png(rows, title))


def saliency_png(rows: list[tuple[str, list[dict]]], title: str) -> bytes:
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
    return _png(fig)


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


# --- The figures of darts-nexp report (docs/report.md), returned as PNG bytes to embed in its page. ---

def scores_png(labels: np.ndarray, scores: np.ndarray, threshold: float | None) -> bytes:
    """Three panels of test scores: the ROC curve and the precision-recall curve, each with the operating point of
    `threshold`, and the histograms of the scores of each class with the threshold drawn."""
    fig, (roc_ax, pr_ax, hist_ax) = _pyplot().subplots(1, 3, figsize=(13.5, 4.2))
    _roc_axes(roc_ax, labels, scores, "ROC", threshold)
    precision, recall = precision_recall(labels, scores)
    pr_ax.step(recall, precision, where="post", lw=2, label="precision-recall")
    pr_ax.axhline(np.mean(labels), ls="--", color="gray", lw=1, label="chance (share of defects)")
    if threshold is not None:
        m = confusion_metrics(labels, scores, threshold)
        pr_ax.plot([m["recall"]], [m["precision"]], "o", color="C3", label=f"threshold {threshold:.3g}")
    pr_ax.set(xlabel="recall (defects caught)", ylabel="precision (flagged parts that are defects)",
              title="precision-recall", xlim=(0, 1), ylim=(0, 1.01))
    pr_ax.legend(loc="best")
    bins = np.histogram_bin_edges(scores, bins=40)  # the scores' own range: a weak model's crowd in a narrow band
    for label, name, colour in ((0, "good", "C0"), (1, "defect", "C3")):
        pick = np.asarray(labels) == label
        hist_ax.hist(np.asarray(scores)[pick], bins=bins, color=colour, alpha=0.55, label=f"{name} ({pick.sum()})")
    if threshold is not None:
        hist_ax.axvline(threshold, color="black", lw=1, ls="--", label="threshold")
    hist_ax.set(xlabel="defect score", ylabel="images", title="scores by class")
    hist_ax.legend(loc="best")
    fig.tight_layout()
    return _png(fig, dpi=90)


def reliability_png(labels: np.ndarray, probabilities: dict[str, np.ndarray], bins: int) -> bytes:
    """A reliability diagram: over `bins` equal-width bins of the predicted P(defect), the share of defects among the
    images of each bin against the bin's mean prediction, one line per entry of `probabilities` (name -> (N,)); a
    calibrated model lies on the diagonal. Dot areas follow the images in each bin."""
    fig, ax = _pyplot().subplots(figsize=(5.2, 4.6))
    ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="perfectly calibrated")
    labels = np.asarray(labels, dtype=np.float64)
    for n, (name, p) in enumerate(probabilities.items()):
        index = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
        count = np.bincount(index, minlength=bins)
        used = count > 0
        mean_p = np.bincount(index, p, bins)[used] / count[used]
        share = np.bincount(index, labels, bins)[used] / count[used]
        ax.plot(mean_p, share, "-", color=f"C{n}", lw=1.5, label=name)
        ax.scatter(mean_p, share, s=12 + 200 * count[used] / count.sum(), color=f"C{n}", zorder=3)
    ax.set(xlabel="predicted P(defect), bin mean", ylabel="share of defects in the bin", xlim=(0, 1), ylim=(0, 1),
           title=f"reliability ({bins} bins)")
    ax.legend(loc="best", fontsize=8)  # under- and over-confident networks leave opposite corners free
    fig.tight_layout()
    return _png(fig, dpi=90)


def epochs_png(epochs: list[dict], panels: list[tuple[str, list[tuple[str, str]]]]) -> bytes:
    """Values per epoch, one panel per (title, [(key, label)]) of `panels`; a key an epoch lacks leaves a gap."""
    from matplotlib.ticker import MaxNLocator

    fig, axes = _pyplot().subplots(1, len(panels), figsize=(5.6 * len(panels), 3.8), squeeze=False)
    x = [e.get("epoch", n + 1) for n, e in enumerate(epochs)]
    for ax, (title, series) in zip(axes[0], panels):
        for key, label in series:
            y = [e.get(key) if isinstance(e.get(key), (int, float)) else np.nan for e in epochs]
            ax.plot(x, y, "o-", ms=4, label=label)
        ax.set(xlabel="epoch", title=title)
        if len(x) <= 10:
            ax.set_xticks(x)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig, dpi=90)


def alphas_png(panels: list[tuple[str, np.ndarray]], edges: list[str], ops: list[str]) -> bytes:
    """Heatmaps of the softmax weights of the operations on each edge, one per (title, (edges, ops) array), two to a
    row, all on one colour scale from the lowest weight to the highest; each square carries its weight in
    hundredths."""
    plt = _pyplot()
    cols = min(2, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 0.32 * len(edges) * rows + 1.6 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    low = min(float(w.min()) for _, w in panels)
    high = max(max(float(w.max()) for _, w in panels), low + 1e-9)
    for ax, (title, weights) in zip(axes.flat, panels):
        image = ax.imshow(weights, cmap="viridis", vmin=low, vmax=high, aspect="auto")
        for (r, c), w in np.ndenumerate(weights):
            ax.text(c, r, f"{100 * w:.0f}", ha="center", va="center", fontsize=6,
                    color="black" if w > low + 0.6 * (high - low) else "white")
        ax.set_xticks(range(len(ops)), ops, rotation=40, ha="right", fontsize=7)
        ax.set_yticks(range(len(edges)), edges, fontsize=7)
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    return _png(fig, dpi=90)


def rocs_png(curves: list[tuple[str, np.ndarray, np.ndarray]]) -> bytes:
    """The ROC curves of several runs, one per (name, labels, scores), overlaid; each run's AUC in the legend."""
    fig, ax = _pyplot().subplots(figsize=(6.4, 5.6))
    for name, labels, scores in curves:
        fpr, tpr, _ = roc(labels, scores)
        ax.plot(fpr, tpr, lw=1.8, label=f"{name} (AUC {auc(labels, scores):.4f})")
    ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="chance")
    ax.set(xlabel="false positive rate (good parts rejected)", ylabel="true positive rate (defects caught)",
           title="test ROC curves", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _png(fig, dpi=90)
