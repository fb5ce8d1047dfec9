"""What a bento serves, as `serving.json` beside its service: Assetbook's packager writes it
from the spec and the model file, and the service is built from it, so no bento needs code
of its own."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assetbook.serving.target import Task

CONFIG_FILE = "serving.json"
MODEL_FILE = "model.pt"  # the model file's name inside its BentoML model
MODEL_CONFIG = "model.json"  # beside it: its config, read by the API without torch


@dataclass(frozen=True)
class ServiceSettings:
    """The spec's side: how requests look and become the model's features."""

    schema: str  # pandera DataFrameModel or DataFrameSchema, `module:Name`
    exclude: tuple[str, ...]  # columns of the schema a request does not carry (the target)
    transform: str | None  # `module:function` from rows to feature columns; None: identity
    options: dict[str, Any]  # keyword arguments of the transform
    record: str  # body field of one row: POST /predict {record: {...}}
    batch: str  # body field of many: POST /predict_batch {batch: [...]}
    log_predictions: float = 1.0  # share of requests whose answered rows are recorded

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceSettings:
        return cls(**{**data, "exclude": tuple(data["exclude"])})


@dataclass(frozen=True)
class ServiceConfig:
    """The settings plus the model's side: the exact model the bento pins and what it
    predicts, which shapes the answers."""

    settings: ServiceSettings
    model: str  # BentoML model tag
    task: Task
    classes: tuple[Any, ...]  # labels of a classification target, in the model's order

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> ServiceConfig:
        data = json.loads(path.read_text())
        return cls(ServiceSettings.from_dict(data["settings"]), data["model"], data["task"],
                   tuple(data["classes"]))
