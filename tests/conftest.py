"""Test-wide settings: one torch thread, and a working directory outside the checkout."""
from pathlib import Path

import pytest
import torch

import darts_nexp.runtime

ROOT = Path(__file__).resolve().parents[1]
IGNORED = {".venv", ".pytest_cache", "__pycache__", ".git"}

# The test models are tiny: one thread is as fast as two, and it does not collapse when the machine is shared
# (torch's thread pool spins and oversubscribes under load, making small ops 100x slower).
torch.set_num_threads(1)


def _checkout_files() -> set[str]:
    return {str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
            if not IGNORED & set(p.relative_to(ROOT).parts) and not p.name.endswith(".egg-info")}


# The commands run in-process keep that one thread (every fixture too, whatever its scope: exact-resume tests compare
# runs bit for bit, and a different thread count sums in another order).
REAL_USABLE_CPUS = darts_nexp.runtime.usable_cpus
darts_nexp.runtime.usable_cpus = lambda: 1


@pytest.fixture(autouse=True)
def _outside_the_checkout(tmp_path, monkeypatch):
    """Default outputs (runs/, genotypes/<dataset>.yaml, data/synthetic) land in a temporary folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _checkout_untouched():
    before = _checkout_files()
    yield
    added = sorted(_checkout_files() - before)
    assert not added, f"tests wrote into the checkout: {added[:10]}"
