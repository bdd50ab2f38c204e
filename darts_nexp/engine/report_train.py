"""The parts of `darts-nexp report` for a run that scored test images: a training run (its model, cells, learning
curves, Grad-CAM gallery and localisation scores) and, for evaluate and ensemble runs too, its test scores."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import page
from ..band import PASS, REJECT, REVIEW
from ..calibration import BINS, ece, formula
from ..errors import UserError
from ..final.complexity import multiply_adds, param_count
from ..metrics import auc, auc_interval, confusion_metrics, tpr_at_fpr
from ..models import load_model
from ..plots import epochs_png, reliability_png, saliency_png, scores_png
from ..runs import (BEST, COMMANDS, EXPLAIN_DIR, GENOTYPE, GRADCAM, LAST, LOCALISATION, METRICS, TRAIN_HISTORY, TSNE,
                    load_checkpoint, read_config)
from .explain import localisation, panels
from .report_parts import Missing, Scores, epochs_of, genotype_cells, part, read_json, read_scores
from .study import open_trained

GRADCAM_BATCH = 64  # images per Grad-CAM batch of the gallery


def model_size(folder: Path) -> dict:
    """{"name", "genotype", "args", "params", "multiply_adds", "image_size", "epoch", "checkpoint"} of the run's best
    (else last) network."""
    for name in (BEST, LAST):
        if (folder / name).is_file():
            ckpt = load_checkpoint(folder / name, ("best", "last"), hint="train the run again")
            break
    else:
        raise Missing(f"no {BEST} or {LAST}: no epoch has finished, so there is no network to describe")
    model = load_model(ckpt)
    size = tuple(ckpt["data"]["image_size"])
    return {"name": ckpt["model"]["name"], "genotype": (ckpt["model"]["genotype"] or {}).get("name"),
            "args": ckpt["model"]["args"], "params": param_count(model),
            "multiply_adds": multiply_adds(model, size, ckpt["model"]["args"]["in_chans"]), "image_size": size,
            "epoch": ckpt["epoch"] + 1, "checkpoint": name}


def read_metrics(folder: Path) -> tuple[dict, str | None]:
    """(metrics.json, or {} when it is missing or damaged; why it is, then)."""
    try:
        return read_json(folder / METRICS, "threshold, latency or calibration"), None
    except Missing as e:
        return {}, str(e)


def latency_ms(metrics: dict) -> float | None:
    return (metrics.get("latency") or {}).get("batch_1_ms_per_image")


def model_part(folder: Path) -> list[str]:
    size = model_size(folder)
    latency = read_metrics(folder)[0].get("latency")
    rows = [["model", size["name"] + (f" (genotype {size['genotype']})" if size["genotype"] else "")],
            ["settings", ", ".join(f"{k}={v}" for k, v in size["args"].items())],
            ["input", f"{size['image_size'][0]}x{size['image_size'][1]}, {size['args']['in_chans']} channel(s)"],
            ["parameters", f"{size['params']:,} ({size['params'] / 1e6:.2f}M, without an auxiliary head)"],
            ["multiply-adds", f"{size['multiply_adds']:,} per image ({size['multiply_adds'] / 1e6:.1f}M)"],
            ["latency", f"{latency['batch_1_ms_per_image']:.2f} ms per image at batch 1, "
                        f"{latency['batch_32_ms_per_image']:.2f} ms at batch 32 ({latency['backend']} on "
                        f"{latency['device']}, {latency['threads']} threads)" if latency else
                        "not measured (it is measured when training ends)"],
            ["network described", f"{size['checkpoint']}, epoch {size['epoch']}"]]
    return [page.table(None, rows)]


def curves_part(folder: Path) -> list[str]:
    if not (folder / TRAIN_HISTORY).is_file():
        raise Missing(f"no {TRAIN_HISTORY}, so no learning curves: no epoch has finished, or the run is of darts-nexp "
                      f"0.2 or before (its TensorBoard events have the same curves: tensorboard --logdir {folder})")
    epochs = epochs_of(folder, "train", "learning curves")
    return [page.image(epochs_png(epochs, [("loss", [("train_loss", "train"), ("val_loss", "validation")]),
                                           ("ROC AUC", [("train_auc", "train"), ("val_auc", "validation")])]),
                       "learning curves")]


def score_parts(folder: Path) -> list[str]:
    """Every part of the test scores: curves and numbers, the confusion matrix, the review band, calibration."""
    try:
        scores = read_scores(folder)
    except Missing as e:
        return [page.heading(3, "Test scores") + page.missing(str(e))]
    metrics, problem = read_metrics(folder)
    threshold = (metrics.get("threshold") or {}).get("value")
    parts = [part("Test scores", _scores, scores, metrics, problem),
             part("Confusion matrix at the threshold", _confusion, scores, threshold)]
    if metrics.get("review_band"):
        parts.append(part("Review band", _band, metrics["review_band"]))
    return parts + [part("Calibration", _calibration, scores, metrics)]


def _scores(s: Scores, metrics: dict, problem: str | None) -> list[str]:
    if len(np.unique(s.labels)) < 2:
        raise Missing(f"all {len(s.labels)} test images are of one class, so there is no ROC curve or AUC")
    threshold = (metrics.get("threshold") or {}).get("value")
    low, high = auc_interval(s.labels, s.scores)
    rows = [["test images", f"{len(s.labels):,} ({int(s.labels.sum()):,} defect, {int((s.labels == 0).sum()):,} good)"
             + (f"; {metrics['test_source']}" if metrics.get("test_source") else "")],
            ["ROC AUC", f"{auc(s.labels, s.scores):.4f} (95% interval {low:.4f} to {high:.4f}, bootstrap over the "
                        f"test images)"],
            ["TPR at 1% FPR", f"{tpr_at_fpr(s.labels, s.scores, 0.01):.3f} (defects caught while rejecting at most 1% "
                              f"of the good parts)"],
            ["TPR at 5% FPR", f"{tpr_at_fpr(s.labels, s.scores, 0.05):.3f}"]]
    notes = [page.missing(problem)] if problem else []
    if threshold is None:
        notes.append(page.missing("no threshold in metrics.json, so no operating point"))
    else:
        m = confusion_metrics(s.labels, s.scores, threshold)
        t = metrics["threshold"]
        rows += [["threshold", f"{threshold:.4f} ({t.get('method')}, chosen on the {t.get('chosen_on')} split)"],
                 ["at the threshold", f"recall {m['recall']:.3f}, precision {m['precision']:.3f}, "
                                      f"false positive rate {m['fpr']:.3f}"]]
    if metrics.get("val_auc") is not None:
        rows.append(["validation AUC", f"{metrics['val_auc']:.4f}"
                     + (f" (best epoch {metrics['best_epoch']})" if metrics.get("best_epoch") else "")])
    return [page.table(None, rows), *notes, page.image(scores_png(s.labels, s.scores, threshold),
                                                           "ROC, precision-recall and score histograms")]


def _confusion(s: Scores, threshold: float | None) -> list[str]:
    if threshold is None:
        raise Missing("no threshold in metrics.json, so no confusion matrix")
    m = confusion_metrics(s.labels, s.scores, threshold)
    return [page.table([f"score >= {threshold:.4f}?", "flagged (rejected)", "passed"],
                       [["defect", f"{m['tp']} caught (TP)", f"{m['fn']} missed (FN)"],
                        ["good", f"{m['fp']} false alarms (FP)", f"{m['tn']} passed (TN)"]])]


def _band(band: dict) -> list[str]:
    rows = [[d, band[d]["parts"], f"{band[d]['share']:.1%}", band[d]["defects"]] for d in (PASS, REVIEW, REJECT)]
    lines = [page.para(f"Pass below {band['lower']:.4f}, a person reviews from there to {band['upper']:.4f}, reject "
                       f"from {band['upper']:.4f}; chosen on the {band['chosen_on']} split for a miss rate of at most "
                       f"{band['max_miss_rate']:.2%} and a review budget of {band['max_review']:.1%}. On the test "
                       f"images the miss rate is {band['miss_rate']:.2%}."),
             page.table(["decision", "parts", "share", "defects among them"], rows)]
    return lines + ([page.missing(band["note"])] if band.get("note") else [])


def _calibration(s: Scores, metrics: dict) -> list[str]:
    calibration = metrics.get("calibration")
    curves = {"raw defect score": s.scores}
    if calibration and s.probabilities is not None:
        curves[f"defect_probability ({formula(calibration)})"] = s.probabilities
        lines = [page.table(["", "raw defect score", "defect_probability"],
                            [["ECE on the test images", ece(s.labels, s.scores), ece(s.labels, s.probabilities)],
                             ["ECE on the validation images", calibration.get("val_ece_before"),
                              calibration.get("val_ece_after")]])]
    else:
        lines = [page.missing("no calibrated probabilities in this run (it was scored before darts-nexp calibrated "
                              "them), so the raw defect score is read as P(defect)"),
                 page.para(f"ECE of the raw defect score on the test images: {ece(s.labels, s.scores):.4f}")]
    return [page.para(f"Expected calibration error (ECE) over {BINS} equal-width bins: the mean gap between the "
                      f"predicted P(defect) and the share of defects, weighted by the images in each bin.", "help"),
            *lines, page.image(reliability_png(s.labels, curves, BINS), "reliability diagram")]


def gallery_part(folder: Path, per_row: int, device: torch.device) -> list[str]:
    """Grad-CAM of the worst missed defects, the worst false alarms and caught defects, boxes drawn; explain's
    gradcam.png when the network or its data cannot be had."""
    if per_row == 0:
        return [page.missing("left out (--gallery 0)")] + _explained(folder)
    try:
        scores = read_scores(folder)
        threshold = read_json(folder / METRICS, "threshold")["threshold"]["value"]
        trained = open_trained(folder, "darts-nexp report", device)
    except (Missing, UserError) as e:
        return [page.missing(f"no Grad-CAM gallery: {e}")] + _explained(folder)
    test = trained.splits.test
    where = {image_id: n for n, image_id in enumerate(test.ids)}
    if any(i not in where for i in scores.ids):
        raise Missing("predictions.csv names images that are not in the run's test split, so no gallery")
    flagged = scores.scores >= threshold
    order = np.argsort(scores.scores, kind="stable")
    has_box = ~np.isnan(test.boxes[[where[i] for i in scores.ids], 0])
    picks = [("worst missed defects (FN)", "No defect is missed",
              [k for k in order if scores.labels[k] == 1 and not flagged[k]]),
             ("worst false alarms (FP)", "No good part is rejected",
              [k for k in order[::-1] if scores.labels[k] == 0 and flagged[k]]),
             # Caught defects with a box first: they show whether the map looks at the defect.
             ("caught defects (TP)", "No defect is caught",
              sorted([k for k in order[::-1] if scores.labels[k] == 1 and flagged[k]], key=lambda k: not has_box[k]))]
    rows, lines, layer = [], [], None
    for title, none, chosen in picks:
        if not chosen:
            lines.append(page.para(f"{none} at this threshold."))
            continue
        idx = [where[scores.ids[k]] for k in chosen[:per_row]]
        row, layer = panels(trained, test.subset(idx, title), GRADCAM_BATCH)
        rank = {i: n for n, i in enumerate(sorted(idx))}  # subset sorts the images; the row keeps the worst first
        rows.append((title, [row[rank[i]] for i in idx]))
    help_text = (f"Grad-CAM of the defect score over test images at the threshold {threshold:.4f}: the defects "
                 f"scored lowest that were passed, the good parts scored highest that were rejected, and caught "
                 f"defects; the labeller's box in white where there is one (docs/explain.md).")
    if not rows:
        return [page.para(help_text, "help"), *lines]
    figure = saliency_png(rows, f"Grad-CAM of the defect score at {layer} ({trained.checkpoint['model']['name']})")
    return [page.para(help_text, "help"), *lines, page.image(figure, "Grad-CAM gallery")]


def _explained(folder: Path) -> list[str]:
    path = folder / EXPLAIN_DIR / GRADCAM
    if path.is_file():
        return [page.para(f"{COMMANDS['explain']}'s gradcam.png (the first test images of each class):"),
                page.image(path.read_bytes(), "gradcam.png of darts-nexp explain")]
    return []


def localisation_part(folder: Path, device: torch.device) -> list[str]:
    """explain's localisation.json, or the same scores computed here when the run's network and data can be had."""
    path = folder / EXPLAIN_DIR / LOCALISATION
    if path.is_file():
        scores = read_json(path, "localisation scores")
    else:
        try:
            scores = localisation(open_trained(folder, "darts-nexp report", device), GRADCAM_BATCH, progress=False)
        except UserError as e:
            raise Missing(f"no localisation scores: {e}") from None
        if scores is None:
            raise Missing("no held-out defect image has a box (defect_area.csv), so there is nothing to localise")

    def scored(key: str) -> list:
        """The two scores of a map; n/a where every Grad-CAM map was empty."""
        return ["n/a" if scores[key][s] is None else scores[key][s] for s in ("pointing_game", "energy_in_box")]

    rows = [[f"Grad-CAM at {scores['layer']}", *scored("map")],
            ["centre prior (a bump on the image centre)", *scored("centre_prior")],
            ["uniform (knows nothing: the box's share of the image)", *scored("uniform")]]
    return [page.para(f"{scores['n_images']} {scores['split']} defect images with a box ({scores['n_empty_maps']} "
                      f"empty maps left out). A Grad-CAM above the centre prior looks at defects; between the two, "
                      f"at the part; at or below uniform, elsewhere (docs/explain.md)."),
            page.table(["map", "pointing game", "energy in the box"], rows)]


def train_parts(folder: Path, per_row: int, device: torch.device) -> list[str]:
    try:
        model = read_config(folder).get("model", "darts")
    except UserError:
        model = None  # without config.yaml, a genotype.yaml alone says the network is a DARTS one
    parts = [part("Model and size", model_part, folder)]
    if (folder / GENOTYPE).is_file() or model == "darts":
        parts.append(part("Cells", genotype_cells, folder / GENOTYPE))
    parts.append(part("Learning curves", curves_part, folder))
    parts += score_parts(folder)
    parts.append(part("Grad-CAM gallery", gallery_part, folder, per_row, device))
    parts.append(part("Localisation of the defects", localisation_part, folder, device))
    tsne = folder / EXPLAIN_DIR / TSNE
    if tsne.is_file():
        parts.append(page.heading(3, "t-SNE of the features") + page.image(tsne.read_bytes(), "t-SNE"))
    return parts
