"""benchmarks/paired_seeds.py: the noise of one training once each seed's shared shift is taken out."""
import math

import pytest
from test_data_util import load_benchmark

ps = load_benchmark("paired_seeds")


def rows(table):
    return [{"cell": c, "kind": k, "train_seed": str(s), "test_auc": str(v)}
            for (c, k), values in table.items() for s, v in enumerate(values)]


def test_a_shift_every_cell_shares_is_not_noise():
    """Seed 1 adds 0.02 to every cell: no residual noise is left, while the within-cell spread sees the shift."""
    a = ps.analyse(rows({("a", "searched"): [0.90, 0.92], ("b", "random"): [0.95, 0.97],
                         ("c", "random"): [0.80, 0.82]}))
    assert a["residual_std"] == pytest.approx(0, abs=1e-12)
    assert a["within_cell_std"] == pytest.approx(math.sqrt(0.0002))
    assert a["groups"] == {"searched": [pytest.approx(0.91)], "random": [pytest.approx(0.96), pytest.approx(0.81)]}


def test_an_interaction_is_noise():
    a = ps.analyse(rows({("a", "searched"): [0.90, 0.92], ("b", "random"): [0.92, 0.90]}))
    assert a["residual_std"] == pytest.approx(math.sqrt(4 * 0.01 ** 2 / 1))  # (2-1) x (2-1) degrees of freedom


def test_a_missing_training_is_refused():
    with pytest.raises(SystemExit, match="each of at least 2 training seeds"):
        ps.analyse(rows({("a", "searched"): [0.9, 0.9], ("b", "random"): [0.9]}))
