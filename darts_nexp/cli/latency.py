"""darts-nexp latency: measured latency of a trained network, in milliseconds per image and images per second.

usage:
  darts-nexp latency RUN_DIR|FILE [--device auto|cpu|cuda] [--batch-sizes 1 32] [--threads N]

For a run: eager PyTorch on the CPU (and on CUDA when there is one) and ONNX Runtime on the CPU (the run exported
to a temporary file). For an exported file: ONNX Runtime on the CPU, or TorchScript. Each figure is the median of
repeated timings after a warm-up, printed with the machine it was measured on.

example:
  darts-nexp latency runs/train-20261206-101500 --batch-sizes 1 32 --threads 1
"""
from __future__ import annotations

from ..engine.latency import LatencyConfig, run
from .entry import cli_entry
from .parse import parse_command


@cli_entry
def main(argv=None) -> dict:
    cfg, _ = parse_command(LatencyConfig, argv, __doc__, "latency", prog="darts-nexp latency", resumable=False)
    return run(cfg)
