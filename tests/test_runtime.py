"""Threads follow the CPUs the process may use, and --threads overrides; freed memory is kept for reuse."""
import os
import platform
import subprocess
import sys

import pytest
import torch
from conftest import REAL_USABLE_CPUS

from darts_nexp.errors import UserError
from darts_nexp.runtime import MALLOC_SETTINGS, keep_freed_memory, memory_note, set_threads, start_runtime


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


GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"
# A step's activations in miniature: 60 blocks of 1 to 4 MiB, made and then freed together, over and over. glibc
# raises its thresholds as blocks come and go, in an order that varies from run to run (so that this pattern faults
# in every page in some runs and almost none in others); they start fixed at its initial 128 KiB here.
CHURN = """
import ctypes, resource, sys, torch
from darts_nexp.runtime import M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, start_runtime
for parameter in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD):
    ctypes.CDLL(None).mallopt(parameter, 128 << 10)
if sys.argv[1] == "command":
    start_runtime("cpu", 1)
def churn():
    xs = [torch.ones((1 + i % 4) << 18) for i in range(60)]
    del xs
for _ in range(3):
    churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc settings")
def test_commands_keep_freed_memory_for_reuse():
    """glibc hands the blocks back and faults their pages in again every round; a command's runtime reuses the pages
    of the rounds before."""
    clean = {k: v for k, v in os.environ.items() if k not in MALLOC_SETTINGS and k != "GLIBC_TUNABLES"}
    default, command = (int(subprocess.run([sys.executable, "-c", CHURN, mode], env=clean, capture_output=True,
                                           text=True, check=True).stdout) for mode in ("default", "command"))
    pages = 5 * sum((1 + i % 4) << 20 for i in range(60)) // 4096  # every page of every round faulted in afresh
    assert default > pages / 2
    assert command < pages / 100


@pytest.mark.parametrize("name,value", [("MALLOC_TRIM_THRESHOLD_", "131072"), ("LD_PRELOAD", "libjemalloc.so.2"),
                                        ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072")])
def test_a_malloc_chosen_in_the_environment_is_left_alone(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    assert keep_freed_memory() is False
