"""The review band: two thresholds on the defect score, so that the parts the network is unsure of go to a person.

A part passes when its score is below `lower`, is rejected when its score is at least `upper`, and goes to review
in between. The band widens the run's operating threshold t (lower <= t <= upper), so it never rejects a part that
t passes, and never scraps more good parts than t does. On the validation split:

1. `lower` is the highest threshold at or below t that passes at most `max_miss_rate` of the defects;
2. `upper` is the highest threshold at or above t that keeps the parts under review within `max_review` of all
   parts, so that people, not the network, decide as many of the would-be rejects as the budget allows.

When the parts between `lower` and t alone exceed the budget, the miss rate gives way: `lower` rises until they fit,
and the band's note says by how much the miss rate is then missed. docs/metrics.md explains the choice.
"""
from __future__ import annotations

import numpy as np

from .errors import UserError

PASS, REVIEW, REJECT = "pass", "review", "reject"


def check_band_options(max_miss_rate: float | None, max_review: float | None) -> None:
    """Raise UserError unless both targets are given, or neither, each a share in (0, 1)."""
    if (max_miss_rate is None) != (max_review is None):
        raise UserError("a review band needs both targets: pass --max-miss-rate and --max-review together (for "
                        "example --max-miss-rate 0.005 --max-review 0.10), or neither")
    for flag, value in (("--max-miss-rate", max_miss_rate), ("--max-review", max_review)):
        if value is not None and not 0 < value < 1:
            raise UserError(f"{flag} is a share of parts in (0, 1), such as 0.005 or 0.10 (got {value:g})")


def require_defects(labels: np.ndarray) -> None:
    """Raise UserError when the validation labels hold no defect: a miss rate cannot be measured on them."""
    if not (np.asarray(labels) == 1).any():
        raise UserError("the validation split holds no defect, so a review band's miss rate cannot be measured on "
                        "it; give it defect images (more of them, or a larger --data.val-fraction), or drop "
                        "--max-miss-rate and --max-review")


def choose_band(labels: np.ndarray, scores: np.ndarray, threshold: float, max_miss_rate: float,
                max_review: float) -> dict:
    """{"lower", "upper", "max_miss_rate", "max_review", "threshold", "chosen_on", "validation": {"miss_rate",
    "review_share"}, "gives_way", "note"} from the validation labels and scores (see the module's docstring);
    "gives_way" and "note" are None when both targets are met."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    require_defects(labels)
    defects, ordered = np.sort(scores[labels == 1]), np.sort(scores)

    def miss(lower):  # share of the defects scored below `lower`: passed
        return np.searchsorted(defects, lower, "left") / len(defects)

    def review(lower, upper):  # share of all parts in [lower, upper)
        return (np.searchsorted(ordered, upper, "left") - np.searchsorted(ordered, lower, "left")) / len(ordered)

    # Every distinct score, t, and one above the highest score (reject nothing) can be a threshold.
    candidates = np.unique(np.append(scores, [threshold, np.nextafter(scores.max(), np.inf)]))
    below, above = candidates[candidates <= threshold], candidates[candidates >= threshold]
    lower = below[miss(below) <= max_miss_rate + 1e-12][-1]  # the lowest candidate misses nothing
    needed = review(lower, threshold)
    gives_way = note = None
    if needed <= max_review + 1e-12:
        upper = above[review(lower, above) <= max_review + 1e-12][-1]  # t itself adds nobody
    else:
        lower, upper = below[review(below, threshold) <= max_review + 1e-12][0], threshold
        gives_way = "max_miss_rate"
        note = (f"the review band cannot meet both targets on the validation split: missing at most "
                f"{max_miss_rate:.2%} of the defects needs {needed:.1%} of the parts reviewed, over the budget of "
                f"{max_review:.1%}; the miss rate gives way: within the budget the band misses {miss(lower):.2%} of "
                f"the validation defects, {miss(lower) - max_miss_rate:.2%} over the target")
    return {"lower": float(lower), "upper": float(upper), "max_miss_rate": max_miss_rate, "max_review": max_review,
            "threshold": float(threshold), "chosen_on": "validation",
            "validation": {"miss_rate": float(miss(lower)), "review_share": float(review(lower, upper))},
            "gives_way": gives_way, "note": note}


def decide(scores: np.ndarray, threshold: float, band: dict | None) -> np.ndarray:
    """pass / review / reject for every score; without a band, pass / reject at the threshold."""
    scores = np.asarray(scores)
    lower, upper = (band["lower"], band["upper"]) if band is not None else (threshold, threshold)
    return np.where(scores < lower, PASS, np.where(scores >= upper, REJECT, REVIEW))


def band_counts(labels: np.ndarray, decisions: np.ndarray) -> dict:
    """Per decision, on labelled images: the parts, their share, and the defects among them (those that pass are
    the misses); and the miss rate, the share of the defects that pass."""
    labels = np.asarray(labels)
    n_defect = int((labels == 1).sum())
    counts = {d: {"parts": int((decisions == d).sum()), "share": float((decisions == d).mean()),
                  "defects": int(((decisions == d) & (labels == 1)).sum())} for d in (PASS, REVIEW, REJECT)}
    return {**counts, "miss_rate": counts[PASS]["defects"] / n_defect if n_defect else float("nan")}


def describe_band(band: dict) -> str:
    """Lines for a person: the thresholds, the parts and defects in each band where they were counted, and the note
    when a target gave way."""
    text = (f"review band: pass below {band['lower']:.4f}, reject from {band['upper']:.4f} (chosen on the "
            f"{band['chosen_on']} split for a miss rate of at most {band['max_miss_rate']:.2%} and a review budget of "
            f"{band['max_review']:.1%})")
    if PASS in band:
        text += "\n    " + ", ".join(f"{d} {band[d]['share']:.1%} of the parts ({band[d]['defects']} defects)"
                                     for d in (PASS, REVIEW, REJECT)) + f": miss rate {band['miss_rate']:.2%}"
    return text + (f"\n  note: {band['note']}" if band["note"] else "")
