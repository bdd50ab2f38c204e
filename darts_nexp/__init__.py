"""darts-nexp: differentiable architecture search (DARTS) for visual defect inspection on Nexperia-like images."""
import os

# Before torch loads its OpenMP runtime: an idle OpenMP thread sleeps instead of spinning. A spinning pool is a
# little faster on an idle machine and collapses beside another busy process (a 1.2 s training step took 20-37 s
# on 2 shared cores; docs/benchmarks.md). Set OMP_WAIT_POLICY yourself to choose otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.2.0"
