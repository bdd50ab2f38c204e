"""Threads follow the CPUs the process may use, and --threads overrides."""
import os
import subprocess
import sys

import pytest
import torch
from conftest import REAL_USABLE_CPUS

from darts_nexp.errors import UserError
from darts_nexp.runtime import memory_note, set_threads, start_runtime


def test_threads_follow_the_affinity_mask(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert REAL_USABLE_CPUS() == len(os.sched_getaffinity(0))
        monkeypatch.setattr("darts_nexp.runtime.usable_cpus", lambda: 3)
        assert set_threads(None) == 3 and torch.get_num_threads() == 3
        assert set_threads(2) == 2 and torch.get_num_threads() == 2  # --threads wins
    finally:
        torch.set_num_threads(before)


def test_bad_thread_count():
    with pytest.raises(UserError, match="--threads must be 1 or more"):
        start_runtime("cpu", 0)


@pytest.mark.parametrize("env,expected", [({}, "1000"), ({"GOMP_SPINCOUNT": "50"}, "50"),
                                          ({"OMP_WAIT_POLICY": "PASSIVE"}, None)])
def test_openmp_spins_briefly_unless_the_user_chose(env, expected):
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    code = "import darts_nexp, os; print(os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == str(expected)


def test_the_memory_note_skips_epochs_without_a_figure():
    """A run resumed from a checkpoint of a darts-nexp that did not record peak_mb has entries without it."""
    cpu = torch.device("cpu")
    note = memory_note([{"val_auc": 0.5}, {"peak_mb": 1234.4}], cpu)
    assert note == "peak memory 1,234 MiB (resident, whole process)"
    assert memory_note([{"val_auc": 0.5}], cpu) == "peak memory not known on this system"
