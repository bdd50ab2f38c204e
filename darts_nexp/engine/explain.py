"""Where does a trained network look? Grad-CAM of the defect score, scored against the defect boxes, and a t-SNE map
of its features.

RUN_DIR is a training run (a DARTS network or a torchvision model); its best network is explained on the images it
was scored on. Writes into RUN_DIR/explain/ (or --out):
  gradcam.png        test images of each class with the Grad-CAM of the defect score over them (boxes drawn)
  localisation.json  pointing game and energy in the box for every held-out defect image with a box, against a
                     centre-prior and a uniform map (docs/explain.md)
  tsne.png           scikit-learn's t-SNE of the penultimate features of the test images, coloured by label
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ..data import ImageSet
from ..errors import UserError
from ..io import write_atomic
from ..localisation import score_maps
from ..models import cam_layer
from ..plots import plot_embedding, plot_saliency
from ..runs import COMMANDS, EXPLAIN_DIR, GRADCAM, LOCALISATION, TSNE
from ..runtime import start_runtime
from .study import StudyConfig, TrainedRun, features, open_trained, output_dir, sample


@dataclass
class ExplainConfig(StudyConfig):
    """Settings of `darts-nexp explain` (docs/explain.md)."""
    images: int = 6
    """test images of each class in gradcam.png"""
    tsne_images: int = 1000
    """test images in tsne.png (a stratified sample when there are more)"""
    progress: bool = True
    """show a progress bar"""

    def validate(self) -> None:
        if self.images < 1 or self.batch_size < 1:
            raise UserError(f"--images and --batch-size must be >= 1 (got {self.images}, {self.batch_size})")
        if self.tsne_images < 5:
            raise UserError(f"--tsne-images must be >= 5: t-SNE needs a few points (got {self.tsne_images})")


def gradcam(run: TrainedRun, images: ImageSet, batch_size: int, progress: bool = True) -> tuple[np.ndarray, str]:
    """((N, H, W) Grad-CAM maps of the defect logit, upsampled to the input, >= 0; the layer they were taken at).

    captum's LayerGradCam does the work (docs/explain.md says why a library and not hooks of our own): the
    gradients of the defect logit, averaged over each channel of the last feature map, weight that map's channels.
    """
    from captum.attr import LayerAttribution, LayerGradCam

    size = tuple(images.images.shape[2:])
    name, layer = cam_layer(run.model, size, images.images.shape[1])
    cam = LayerGradCam(run.model, layer)
    maps = []
    for x, _ in tqdm(run.batches(images, batch_size), desc="grad-cam", disable=not progress, leave=False):
        attr = cam.attribute(x.requires_grad_(), target=1, relu_attributions=True)  # (B, 1, h, w)
        maps.append(LayerAttribution.interpolate(attr, size, interpolate_mode="bilinear")[:, 0].detach().cpu())
    return torch.cat(maps).double().numpy() if maps else np.zeros((0, *size)), name


def _pick(labels: np.ndarray, label: int, n: int, boxes: np.ndarray) -> np.ndarray:
    """The first n images of a class, those with a box first (they show whether the map hits it)."""
    idx = np.flatnonzero(labels == label)
    has_box = ~np.isnan(boxes[idx, 0])
    return np.concatenate([idx[has_box], idx[~has_box]])[:n]


def panels(run: TrainedRun, images: ImageSet, batch_size: int) -> tuple[list[dict], str]:
    """(the plots.saliency_png panels of `images`: each image under its Grad-CAM, its id and defect score in the
    caption, its box where it has one; the layer of the maps)."""
    maps, layer = gradcam(run, images, batch_size, progress=False)
    _, scores, _ = features(run.model, run.batches(images, batch_size))
    # A long id keeps its end: path ids (good/000 beside scratch/000) differ there.
    captions = [i if len(i) <= 28 else "..." + i[-25:] for i in images.ids]
    return [{"image": img[0] / 255.0, "map": m, "caption": f"{c}\nscore {s:.3f}", "box": None if np.isnan(b[0]) else b}
            for img, m, c, s, b in zip(images.images, maps, captions, scores, images.boxes)], layer


def grid(run: TrainedRun, cfg: ExplainConfig, path) -> None:
    test = run.splits.test
    rows = []
    for label, name in ((0, "good"), (1, "defect")):
        picked = _pick(test.labels, label, cfg.images, test.boxes)
        if len(picked):
            row, layer = panels(run, test.subset(picked, name), cfg.batch_size)
            rows.append((name, row))
    plot_saliency(rows, path, f"Grad-CAM of the defect score at {layer} ({run.checkpoint['model']['name']})")


def localisation(run: TrainedRun, batch_size: int, progress: bool = True) -> dict | None:
    """Scores of the Grad-CAM maps of every held-out defect image with a box: the test split's when it has boxes,
    else the validation split's (real Nexperia boxes cover only training images)."""
    for split in (run.splits.test, run.splits.val):
        has_box = (split.labels == 1) & ~np.isnan(split.boxes[:, 0])
        if has_box.any():
            break
    else:
        return None
    images = split.subset(np.flatnonzero(has_box), split.name)
    maps, layer = gradcam(run, images, batch_size, progress)
    result = score_maps(maps, images.boxes)
    for row, image_id in zip(result["per_image"], images.ids):
        row["id"] = image_id
    return {"model": run.checkpoint["model"]["name"], "layer": layer, "split": split.name,
            "image_size": list(images.images.shape[2:]), **result}


def tsne(run: TrainedRun, cfg: ExplainConfig, path) -> int:
    """t-SNE of the penultimate features of (a stratified sample of) the test images; returns how many."""
    from sklearn.manifold import TSNE

    test = sample(run.splits.test, cfg.tsne_images, cfg.seed)
    feats, _, labels = features(run.model, run.batches(test, cfg.batch_size))
    perplexity = min(30.0, (len(test) - 1) / 3)  # sklearn needs perplexity < n; a third keeps neighbourhoods local
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=cfg.seed).fit_transform(feats)
    plot_embedding(points, labels, path, f"t-SNE of the penultimate features ({run.checkpoint['model']['name']}, "
                                         f"{len(test)} test images)")
    return len(test)


def run(cfg: ExplainConfig) -> dict:
    """Write gradcam.png, localisation.json (when the data has boxes) and tsne.png; returns what was written."""
    device = start_runtime(cfg.device, cfg.threads)
    trained = open_trained(cfg.run_dir, COMMANDS["explain"], device, cfg.data_dir, cfg.cache_dir)
    out = output_dir(cfg, trained, EXPLAIN_DIR, (GRADCAM, LOCALISATION, TSNE), COMMANDS["explain"])
    grid(trained, cfg, out / GRADCAM)
    files = {"gradcam": out / GRADCAM}
    scores = localisation(trained, cfg.batch_size, cfg.progress)
    if scores is None:
        print("no held-out defect image has a box (defect_area.csv): localisation.json is not written")
    else:
        files["localisation"] = write_atomic(out / LOCALISATION, json.dumps(scores, indent=1) + "\n")
        g, c, u = scores["map"], scores["centre_prior"], scores["uniform"]
        print(f"localisation on {scores['n_images']} {scores['split']} defect images with a box "
              f"({scores['n_empty_maps']} empty maps), Grad-CAM at {scores['layer']}:")
        for what, s in (("Grad-CAM", g), ("centre prior", c), ("uniform", u)):
            pointing = "n/a" if s["pointing_game"] is None else f"{s['pointing_game']:.3f}"
            energy = "n/a" if s["energy_in_box"] is None else f"{s['energy_in_box']:.3f}"
            print(f"  {what:13s} pointing game {pointing}   energy in box {energy}")
    n = tsne(trained, cfg, out / TSNE)
    files["tsne"] = out / TSNE
    print(f"t-SNE of {n} test images")
    for path in files.values():
        print(f"  {path.name + ':':19s}{path}")
    return {"files": files, "localisation": scores}
