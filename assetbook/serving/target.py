"""What a model predicts: the task (binary, multiclass, regression), how the target column is
encoded for training, and how the network's outputs are decoded into answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assetbook.serving.tasks import Task

MAX_CLASSES = 20  # an integer target with more distinct values is read as a quantity


def infer_task(target: pd.Series) -> Task:
    """Binary for two values, multiclass for a few labels (text, or up to 20 integers),
    regression for anything numeric beyond that."""
    values = target.dropna()
    distinct = values.nunique()
    if distinct == 2:
        return "binary"
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not numeric:
        return "multiclass"
    whole = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    return "multiclass" if whole and distinct <= MAX_CLASSES else "regression"


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones: the model file holds only plain data."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class Target:
    name: str
    task: Task
    classes: tuple[Any, ...] = ()  # sorted labels of a classification target
    mean: float = 0.0  # a regression target is standardised for training
    scale: float = 1.0

    @classmethod
    def fit(cls, name: str, task: Task, values: pd.Series) -> Target:
        if task == "regression":
            numbers = values.to_numpy(dtype=np.float64)
            scale = float(numbers.std())
            return cls(name, task, (), float(numbers.mean()), scale if scale > 0 else 1.0)
        return cls(name, task, tuple(_plain(v) for v in sorted(values.unique().tolist())))

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.task == "multiclass" else 1

    def encode(self, values: pd.Series) -> np.ndarray:
        """Training labels: class indices (int64 for multiclass, 0/1 floats for binary) or
        the standardised value."""
        if self.task == "regression":
            return ((values.to_numpy(dtype=np.float64) - self.mean) / self.scale
                    ).astype(np.float32)
        index = {label: i for i, label in enumerate(self.classes)}
        unknown = sorted({_plain(v) for v in values.unique()} - set(index), key=str)
        if unknown:
            raise ValueError(f"target '{self.name}' has labels {unknown} not seen in "
                             f"training (known: {list(self.classes)})")
        codes = values.map(index).to_numpy()
        return codes.astype(np.int64 if self.task == "multiclass" else np.float32)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """Network outputs -> class probabilities (rows x classes) or values (rows)."""
        if self.task == "regression":
            return outputs.reshape(-1) * self.scale + self.mean
        if self.task == "binary":
            # the logistic function as tanh: 1 / (1 + exp(-x)) overflows (and warns) for a
            # confident negative
            positive = 0.5 * (1.0 + np.tanh(0.5 * outputs.reshape(-1)))
            return np.column_stack([1.0 - positive, positive])
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def labels(self, probabilities: np.ndarray) -> list[Any]:
        """The most probable class of each row."""
        return [self.classes[i] for i in probabilities.argmax(axis=1)]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "classes": list(self.classes),
                "mean": self.mean, "scale": self.scale}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        return cls(data["name"], data["task"], tuple(data["classes"]), data["mean"],
                   data["scale"])
