"""Does a saliency map look at the defect? Two scores of a map against the labeller's box, and two baseline maps
that give the scores their meaning (docs/explain.md).

- Pointing game (Zhang et al., 2016): 1 when the map's maximum falls inside the box, else 0.
- Energy in the box (the "energy-based pointing game" of Score-CAM, Wang et al., 2020): the share of the map's
  positive mass inside the box.

A map that knows nothing scores the box's share of the image on both (the uniform baseline); one that always looks
at the middle of the part scores what the centre prior scores. Maps are (H, W) arrays over the model's input, and
boxes x1, y1, x2, y2 in the same pixels; a pixel counts as inside when it overlaps the box, so that a box thinner
than a pixel still holds one.
"""
from __future__ import annotations

import numpy as np


def box_mask(shape: tuple[int, int], box) -> np.ndarray:
    """(H, W) bool: the pixels that overlap the box."""
    h, w = shape
    x1, y1, x2, y2 = box
    cols, rows = np.arange(w), np.arange(h)
    inside_x = (cols + 1 > x1) & (cols < max(x2, x1 + 1e-6))
    inside_y = (rows + 1 > y1) & (rows < max(y2, y1 + 1e-6))
    return inside_y[:, None] & inside_x[None, :]


def pointing_game(saliency: np.ndarray, mask: np.ndarray) -> float:
    """1.0 when the map's maximum is in the mask (a tie anywhere inside counts), else 0.0."""
    return float(saliency[mask].max() >= saliency.max())


def energy_in_box(saliency: np.ndarray, mask: np.ndarray) -> float:
    """The share of the map's positive mass inside the mask (NaN for a map with none)."""
    positive = np.clip(saliency, 0, None)
    total = positive.sum()
    return float(positive[mask].sum() / total) if total > 0 else float("nan")


def centre_prior(shape: tuple[int, int]) -> np.ndarray:
    """A Gaussian bump on the image centre, sigma a quarter of each side: where a part's defects would be if one
    knew nothing but that the part sits in the middle of the photo."""
    h, w = shape
    y = (np.arange(h) + 0.5 - h / 2) / (h / 4)
    x = (np.arange(w) + 0.5 - w / 2) / (w / 4)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))


def score_maps(maps: np.ndarray, boxes: np.ndarray) -> dict:
    """Means over images of both scores, for the maps (N, H, W) and for the two baselines, with per-image values.

    Images whose map has no positive mass (Grad-CAM found nothing for the defect class) are counted in
    `n_empty_maps` and left out of the map's means: they neither hit nor miss.
    """
    shape = maps.shape[1:]
    prior = centre_prior(shape)
    rows, prior_scores, uniform = [], [], []
    for saliency, box in zip(maps, boxes):
        mask = box_mask(shape, box)
        empty = not (saliency > 0).any()
        rows.append({"box": [float(v) for v in box],
                     "pointing_game": None if empty else pointing_game(saliency, mask),
                     "energy_in_box": None if empty else energy_in_box(saliency, mask)})
        prior_scores.append((pointing_game(prior, mask), energy_in_box(prior, mask)))
        uniform.append(mask.mean())

    def mean(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    prior_scores = np.array(prior_scores).reshape(-1, 2)
    return {
        "n_images": len(rows),
        "n_empty_maps": sum(r["pointing_game"] is None for r in rows),
        "map": {"pointing_game": mean([r["pointing_game"] for r in rows]),
                "energy_in_box": mean([r["energy_in_box"] for r in rows])},
        "centre_prior": {"pointing_game": mean(list(prior_scores[:, 0])),
                         "energy_in_box": mean(list(prior_scores[:, 1]))},
        "uniform": {"pointing_game": mean(uniform), "energy_in_box": mean(uniform)},
        "per_image": rows,
    }
