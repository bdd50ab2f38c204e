"""From a trained run to the line: a network with its input scaling in front (Scorer), exported files that carry
what a scorer needs (ONNX, TorchScript), a predictor that scores images from a run or a file, and measured latency
(docs/deploy.md)."""
from .predictor import Prediction, Predictor, load

__all__ = ["Prediction", "Predictor", "load"]
