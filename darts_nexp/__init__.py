"""darts-nexp: differentiable architecture search (DARTS) for visual defect inspection on Nexperia-like images."""
import os

from .version import __version__  # noqa: F401 (the package's version, as darts_nexp.__version__)

# GNU OpenMP (torch's on Linux) lets an idle thread spin 300,000 rounds before it sleeps. Beside another busy
# process those spins take the core the working threads wait for: a search step took 3.5x its quiet time. 1,000
# rounds keep the quiet speed and cut that to about 2.5x (docs/benchmarks.md, Speed on a busy machine). It must be
# set before torch loads OpenMP, hence here; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")


def load(path, device: str = "cpu"):
    """Score images with a trained model, from a run directory, a checkpoint or an exported file:
    `darts_nexp.load("runs/train-...").predict(["part.bmp"])` (deploy/predictor.py)."""
    from .deploy import load as load_predictor  # torch loads here, after the OpenMP setting above

    return load_predictor(path, device)
