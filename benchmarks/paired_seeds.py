"""Cell x training-seed table of a search-quality protocol's rows.csv, with the noise of one training once the
effect every cell shares within a seed (its split, and its thread count) is taken out:

    python benchmarks/paired_seeds.py runs/search-quality/rows.csv

Model: test AUC = overall mean + cell effect + seed effect + residual. The residual's standard deviation (over
(cells - 1) x (seeds - 1) degrees of freedom) is one training's noise when cells are compared within a seed; the
pooled within-cell standard deviation mixes the seed effect into it. Needs every cell trained with every seed.
"""
import csv
import math
import statistics
import sys


def analyse(rows: list[dict]) -> dict:
    auc = {(r["cell"], int(r["train_seed"])): float(r["test_auc"]) for r in rows}
    kind = {r["cell"]: r["kind"] for r in rows}
    cells, seeds = list(dict.fromkeys(r["cell"] for r in rows)), sorted({s for _, s in auc})
    if len(seeds) < 2 or any((c, s) not in auc for c in cells for s in seeds):
        raise SystemExit("every cell needs a test AUC for each of at least 2 training seeds")
    mean = statistics.mean(auc.values())
    cell = {c: statistics.mean(auc[c, s] for s in seeds) for c in cells}
    seed = {s: statistics.mean(auc[c, s] for c in cells) for s in seeds}
    residual = [auc[c, s] - cell[c] - seed[s] + mean for c in cells for s in seeds]
    dof = (len(cells) - 1) * (len(seeds) - 1)
    groups = {k: [cell[c] for c in cells if kind[c] == k] for k in dict.fromkeys(kind.values())}
    return {"auc": auc, "cells": cells, "seeds": seeds, "cell_mean": cell, "seed_mean": seed, "groups": groups,
            "residual_std": math.sqrt(sum(r * r for r in residual) / dof),
            "within_cell_std": math.sqrt(statistics.mean(statistics.variance([auc[c, s] for s in seeds])
                                                         for c in cells))}


def main() -> None:
    with open(sys.argv[1], newline="") as f:
        a = analyse(list(csv.DictReader(f)))
    print("| cell | " + " | ".join(f"seed {s}" for s in a["seeds"]) + " | mean |")
    print("|---" * (len(a["seeds"]) + 2) + "|")
    for c in a["cells"]:
        print(f"| {c} | " + " | ".join(f"{a['auc'][c, s]:.4f}" for s in a["seeds"]) + f" | {a['cell_mean'][c]:.4f} |")
    print("| mean over the cells | " + " | ".join(f"{a['seed_mean'][s]:.4f}" for s in a["seeds"]) + " | |")
    for k, means in a["groups"].items():
        spread = f" ± {statistics.stdev(means):.4f}" if len(means) > 1 else ""
        print(f"{k}: {statistics.mean(means):.4f}{spread} ({len(means)} cells)")
    print(f"one training's noise within a seed (residual std): {a['residual_std']:.4f}; "
          f"pooled within-cell std, seeds mixed: {a['within_cell_std']:.4f}")


if __name__ == "__main__":
    main()
