"""darts-nexp export: write a trained network as ONNX or TorchScript, checked against PyTorch, for scoring without
the training code.

usage:
  darts-nexp export RUN_DIR [--format onnx|torchscript] [--out FILE] [--data-dir DIR]

The file holds the eval-mode network (no auxiliary head, no drop path) with its input scaling in front and a
dynamic batch axis: pixels (batch, C, H, W) in 0..255 at the run's input size in, logits and P(defect) out. It also
records what a scorer needs: image size, border crop, resize, channels, class order, and the threshold with how it
was chosen. After writing, the file and PyTorch score the run's validation images; a difference above 1e-4 deletes
the file and says by how much. docs/deploy.md shows how to use the file.

example:
  darts-nexp export runs/train-20261206-101500 --format onnx
"""
from __future__ import annotations

from pathlib import Path

from ..engine.export import ExportConfig, run
from .entry import cli_entry
from .parse import parse_command


@cli_entry
def main(argv=None) -> Path:
    cfg, _ = parse_command(ExportConfig, argv, __doc__, "export", prog="darts-nexp export", resumable=False)
    return run(cfg)
