"""Each command's section of a config file, and the config it fills: a shared top-level key goes to the commands
whose config has such a field (config.read_yaml)."""
from __future__ import annotations

import dataclasses
import typing

from ..engine.derive import DeriveConfig
from ..engine.ensemble import EnsembleConfig
from ..engine.evaluate import EvaluateConfig
from ..engine.explain import ExplainConfig
from ..engine.export import ExportConfig
from ..engine.features import FeaturesConfig
from ..engine.latency import LatencyConfig
from ..engine.latency_table import LatencyTableConfig
from ..engine.protocol import ProtocolConfig
from ..engine.search import SearchConfig
from ..engine.train import TrainConfig

SECTIONS = {"search": SearchConfig, "train": TrainConfig, "evaluate": EvaluateConfig, "export": ExportConfig,
            "latency": LatencyConfig, "latency-table": LatencyTableConfig, "explain": ExplainConfig,
            "features": FeaturesConfig, "ensemble": EnsembleConfig, "protocol": ProtocolConfig, "derive": DeriveConfig}


def _dotted(cls, prefix: str = "") -> set[str]:
    """The names of the fields of `cls`, and of its sections' fields, dotted (`data`, `data.data_dir`, ...)."""
    hints = typing.get_type_hints(cls)
    names = set()
    for f in dataclasses.fields(cls):
        names.add(prefix + f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            names |= _dotted(hints[f.name], f"{prefix}{f.name}.")
    return names


def section_fields() -> dict[str, set[str]]:
    """Each command's config fields at every depth, by dotted name."""
    return {name: _dotted(cls) for name, cls in SECTIONS.items()}
