"""Exported files: a Scorer written as ONNX or TorchScript, with what a scorer needs recorded inside the file.

The record (JSON) holds the model's name, the input (image size, crop border, resize or crop, channels, the scaling
of pixels), the outputs and class order, the threshold with how it was chosen, the calibration and the review band:
in ONNX's metadata_props under the key `darts_nexp`, in TorchScript as the extra file `darts_nexp.json`. A file is
told by its suffix. A record without calibration or band (darts-nexp 0.2) scores as uncalibrated, without a band.
"""
from __future__ import annotations

import inspect
import io
import json
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..version import __version__
from ..calibration import calibration_of
from ..data.batches import MEAN, STD
from ..errors import UserError
from ..io import atomic_path
from .scorer import Scorer

FORMAT = 1  # of the record; a reader refuses a newer one
KEY = "darts_nexp"
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript"}
CLASSES = ["good", "defect"]


def record(checkpoint: dict) -> dict:
    """What a scorer needs, from a training checkpoint (its model spec, data section, threshold, calibration and
    review band)."""
    data = checkpoint["data"]
    return {
        "format": FORMAT, "darts_nexp": __version__, "model": checkpoint["model"]["name"],
        "input": {"name": "pixels", "shape": ["batch", data["channels"], *data["image_size"]], "range": "0..255",
                  "image_size": list(data["image_size"]), "crop_border": data["crop_border"],
                  "resize": data["resize"], "channels": data["channels"],
                  "gray": "8-bit gray (ITU-R 601 of RGB), EXIF orientation applied",
                  "scaling": f"inside the file: (pixels / 255 - {MEAN}) / {STD}"},
        "outputs": {"logits": "(batch, 2), classes in the order of `classes`",
                    "defect_probability": "(batch,) float32 softmax of (logit_good / T, logit_defect / T + b), "
                                          "T and b: calibration.temperature and calibration.bias"},
        "classes": CLASSES,
        "threshold": checkpoint.get("threshold") or {"value": 0.5, "method": "default", "chosen_on": "none"},
        "calibration": calibration_of(checkpoint),
        "review_band": checkpoint.get("review_band"),
    }


def kind_of(path: Path | str) -> str | None:
    """onnx or torchscript by the suffix of `path`; None for anything else (a run directory, a checkpoint)."""
    suffix = Path(path).suffix
    return next((kind for kind, s in SUFFIXES.items() if s == suffix), None)


def _example(meta: dict) -> torch.Tensor:
    c, h, w = meta["input"]["shape"][1:]
    return torch.rand(2, c, h, w) * 255


def write(scorer: Scorer, meta: dict, path: Path, kind: str) -> Path:
    """Write the eval-mode `scorer` as `kind` with a dynamic batch axis and `meta` inside; the file appears whole
    or not at all."""
    scorer = scorer.eval()
    # The exporters warn about their own internals (tracing, deprecations); nothing a user of the file can act on.
    with torch.no_grad(), warnings.catch_warnings(), atomic_path(path) as tmp:
        warnings.simplefilter("ignore")
        if kind == "onnx":
            _write_onnx(scorer, meta, tmp)
        else:
            # Into memory first: torch writes a named file from C++, whose failures are no OSError.
            script = io.BytesIO()
            torch.jit.save(torch.jit.trace(scorer, _example(meta)), script,
                           _extra_files={f"{KEY}.json": json.dumps(meta)})
            tmp.write_bytes(script.getvalue())
    return path


def _write_onnx(scorer: Scorer, meta: dict, path: Path) -> None:
    import onnx

    # The TorchScript-based exporter: it needs no onnxscript, and it is the one torch 2.4 has.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(scorer, (_example(meta),), str(path), input_names=["pixels"],
                      output_names=["logits", "defect_probability"], opset_version=17,
                      dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}, "defect_probability": {0: "batch"}},
                      **legacy)
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = KEY, json.dumps(meta)
    onnx.save(model, str(path))


def _check(meta, path: Path) -> dict:
    if not isinstance(meta, dict) or not {"format", "input", "threshold", "classes"} <= set(meta):
        raise UserError(f"{path} holds no darts-nexp record (the metadata `{KEY}`); export it with darts-nexp "
                        f"export")
    if not isinstance(meta["format"], int) or meta["format"] > FORMAT:
        raise UserError(f"{path} was written by a newer darts-nexp (export format {meta['format']}, this one reads "
                        f"up to {FORMAT}); upgrade darts-nexp to score with it")
    return meta


def _unreadable(path: Path, kind: str, e: Exception) -> UserError:
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
    return UserError(f"{path} cannot be read as {kind} ({first}); it is damaged or not an exported model: export it "
                     f"again with darts-nexp export")


def open_file(path: Path | str, device: torch.device = torch.device("cpu")
              ) -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    """(a function from float32 pixels (B, C, H, W) to logits (B, 2), the record) of an exported file. A missing,
    damaged or foreign file is refused with a message."""
    path = Path(path)
    kind = kind_of(path)
    if kind is None:
        raise UserError(f"{path}: not an exported model (the suffix must be {' or '.join(SUFFIXES.values())})")
    if not path.is_file():
        raise UserError(f"{path} not found; pass an exported model (darts-nexp export) or a run directory")
    if kind == "onnx":
        return _open_onnx(path)
    try:
        extra = {f"{KEY}.json": ""}
        with warnings.catch_warnings():  # torch.jit's deprecation notice: the file is still read as written
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
        meta = json.loads(extra[f"{KEY}.json"] or "null")
    except Exception as e:  # a damaged file: torch.jit and json raise types of their own
        raise _unreadable(path, kind, e) from None
    meta = _check(meta, path)

    @torch.no_grad()
    def logits(pixels: np.ndarray) -> np.ndarray:
        return module(torch.from_numpy(pixels).to(device))[0].cpu().numpy()

    return logits, meta


def _open_onnx(path: Path):
    import onnx
    import onnxruntime

    try:
        model = onnx.load(str(path), load_external_data=False)
        props = {p.key: p.value for p in model.metadata_props}
        meta = json.loads(props[KEY]) if KEY in props else None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # --threads, as torch's
        session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
    except Exception as e:  # a damaged file: onnx, onnxruntime and json raise types of their own
        raise _unreadable(path, "onnx", e) from None
    meta = _check(meta, path)

    def logits(pixels: np.ndarray) -> np.ndarray:
        return session.run(["logits"], {"pixels": pixels})[0]

    return logits, meta
