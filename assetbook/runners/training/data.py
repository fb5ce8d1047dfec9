"""Frames -> tensors, with preprocessing fitted on the training rows only.

The standardisation (mean and scale per feature) is saved with the weights, so serving
applies exactly what training saw and nothing is refitted on held-out data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assetbook.errors import AssetbookError


class TrainingDataError(AssetbookError):
    """The training window cannot train a classifier (no rows, one class, NaNs, ...)."""


@dataclass(frozen=True)
class Preprocessing:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[list(self.features)].to_numpy(dtype=np.float32)
        return ((values - np.asarray(self.mean, np.float32))
                / np.asarray(self.scale, np.float32)).astype(np.float32)

    def to_dict(self) -> dict:
        return {"features": list(self.features), "mean": list(self.mean),
                "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        return cls(tuple(data["features"]), tuple(data["mean"]), tuple(data["scale"]))


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    preprocessing: Preprocessing

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]


def read_frames(paths: Sequence[str]) -> pd.DataFrame:
    if not paths:
        raise TrainingDataError("the training window holds no partitions: materialize the "
                                "input days first")
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


def prepare(frame: pd.DataFrame, target: str, validation_fraction: float, seed: int) -> Dataset:
    """Split rows at random (seeded), fit the preprocessing on the training part."""
    if frame.empty:
        raise TrainingDataError("the training window has no rows")
    if target not in frame.columns:
        raise TrainingDataError(f"target column '{target}' is missing; columns: "
                                f"{', '.join(frame.columns)}")
    features = [c for c in frame.columns
                if c != target and pd.api.types.is_numeric_dtype(frame[c])]
    nan_columns = [c for c in [*features, target] if frame[c].isna().any()]
    if nan_columns:
        raise TrainingDataError(f"the training window has NaNs in {', '.join(nan_columns)}")
    classes = sorted(frame[target].unique().tolist())
    if len(classes) < 2:
        raise TrainingDataError(f"the training window has a single class ({target} = "
                                f"{classes[0]}): a classifier cannot learn from it")
    order = np.random.default_rng(seed).permutation(len(frame))
    n_val = max(1, int(len(frame) * validation_fraction))
    train, val = frame.iloc[order[n_val:]], frame.iloc[order[:n_val]]
    values = train[features].to_numpy(dtype=np.float64)
    scale = values.std(axis=0)
    preprocessing = Preprocessing(tuple(features), tuple(values.mean(axis=0).tolist()),
                                  tuple(np.where(scale > 0, scale, 1.0).tolist()))
    return Dataset(
        preprocessing.transform(train), train[target].to_numpy(np.float32),
        preprocessing.transform(val), val[target].to_numpy(np.float32), preprocessing,
    )
