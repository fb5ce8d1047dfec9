"""Frames -> tensors, with preprocessing fitted on the training rows only.

The standardisation (mean and scale per feature) and the target's encoding are saved with
the weights, so serving applies exactly what training saw and nothing is refitted on
held-out data.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assetbook.errors import AssetbookError
from assetbook.serving.model_file import Preprocessing
from assetbook.serving.target import Target, infer_task


class TrainingDataError(AssetbookError):
    """The training window cannot train the model (no rows, one class, NaNs, ...)."""


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    preprocessing: Preprocessing
    target: Target

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]


def read_frames(paths: Sequence[str]) -> pd.DataFrame:
    if not paths:
        raise TrainingDataError("the training window holds no partitions: materialize the "
                                "input days first")
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


def not_finite(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """'area_ratio: 2 inf; bmi: 3 NaN' for the columns holding what is no finite number; ''
    if none does. Unscaled, an inf trains a model of NaNs that only its evaluation fails."""
    said = []
    for column in columns:
        values = frame[column]
        counts = {"NaN": int(values.isna().sum())}
        if pd.api.types.is_float_dtype(values):
            counts["inf"] = int(np.isinf(values.to_numpy(dtype=np.float64)).sum())
        if found := [f"{n} {kind}" for kind, n in counts.items() if n]:
            said.append(f"{column}: {', '.join(found)}")
    return "; ".join(said)


def model_columns(frame: pd.DataFrame, target: str) -> list[str]:
    """The columns a model reads: every numeric one but the target (text is left out)."""
    return [c for c in frame.columns if c != target and pd.api.types.is_numeric_dtype(frame[c])]


def prepare(frame: pd.DataFrame, target: str, validation_fraction: float, seed: int,
            task: str = "auto") -> Dataset:
    """Split rows at random (seeded), fit the preprocessing and the target's encoding on the
    training part. `task` "auto" infers it from the target column."""
    if frame.empty:
        raise TrainingDataError("the training window has no rows")
    if target not in frame.columns:
        close = difflib.get_close_matches(target, [str(c) for c in frame.columns], n=1)
        hint = f" (did you mean '{close[0]}'? the spec's `target:`)" if close else ""
        raise TrainingDataError(f"target column '{target}' is missing{hint}; columns: "
                                f"{', '.join(map(str, frame.columns))}")
    features = model_columns(frame, target)
    if unreadable := not_finite(frame, [*features, target]):
        raise TrainingDataError(f"the training window has values no model can learn from: "
                                f"{unreadable} (the features notebook must make finite "
                                "numbers: a division by zero makes inf)")
    kind = infer_task(frame[target]) if task == "auto" else task
    classes = sorted(frame[target].unique().tolist(), key=str)
    if kind != "regression" and len(classes) < 2:
        raise TrainingDataError(f"the training window has a single class ({target} = "
                                f"{classes[0]}): a classifier cannot learn from it")
    order = np.random.default_rng(seed).permutation(len(frame))
    n_val = max(1, int(len(frame) * validation_fraction))
    train, val = frame.iloc[order[n_val:]], frame.iloc[order[:n_val]]
    values = train[features].to_numpy(dtype=np.float64)
    scale = values.std(axis=0)
    preprocessing = Preprocessing(tuple(features), tuple(values.mean(axis=0).tolist()),
                                  tuple(np.where(scale > 0, scale, 1.0).tolist()))
    # Classes from the whole window: a rare class missing from the training split is still
    # a label the model must be able to answer.
    encoding = Target.fit(target, kind, frame[target])  # type: ignore[arg-type]
    return Dataset(
        preprocessing.transform(train), encoding.encode(train[target]),
        preprocessing.transform(val), encoding.encode(val[target]), preprocessing, encoding,
    )
