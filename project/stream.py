"""The loan-application stream of Agrawal, Imielinski and Swami (1993).

Nine attributes and the ten published labelling functions, vectorised with numpy. Label 0 is
the paper's "Group A", as in MOA and river. A partition's rows depend only on its key and the
seed, so a day re-materialized gives the same rows; from `drift_day` on, the labelling
function switches, which is the concept drift the continuous loop has to catch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

FEATURES = ("salary", "commission", "age", "elevel", "car", "zipcode", "hvalue", "hyears", "loan")
TARGET = "label"

Columns = dict[str, np.ndarray]


def _between(x: np.ndarray, low: float, high: float) -> np.ndarray:
    return (low <= x) & (x <= high)


def _by_age(c: Columns, young: np.ndarray, middle: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Pick the rule for each row's age band: <40, 40..59, >=60. True means Group A."""
    age = c["age"]
    return np.where(age < 40, young, np.where(age < 60, middle, old))


def _f1(c: Columns) -> np.ndarray:
    return (c["age"] < 40) | (c["age"] >= 60)


def _f2(c: Columns) -> np.ndarray:
    s = c["salary"]
    return _by_age(c, _between(s, 50e3, 100e3), _between(s, 75e3, 125e3), _between(s, 25e3, 75e3))


def _f3(c: Columns) -> np.ndarray:
    e = c["elevel"]
    return _by_age(c, np.isin(e, (0, 1)), np.isin(e, (1, 2, 3)), np.isin(e, (2, 3, 4)))


def _f4(c: Columns) -> np.ndarray:
    e, s = c["elevel"], c["salary"]
    low, mid, high = _between(s, 25e3, 75e3), _between(s, 50e3, 100e3), _between(s, 75e3, 125e3)
    return _by_age(
        c,
        np.where(np.isin(e, (0, 1)), low, mid),
        np.where(np.isin(e, (1, 2, 3)), mid, high),
        np.where(np.isin(e, (2, 3, 4)), mid, low),
    )


def _f5(c: Columns) -> np.ndarray:
    s, loan = c["salary"], c["loan"]
    small, medium, large = (
        _between(loan, 100e3, 300e3),
        _between(loan, 200e3, 400e3),
        _between(loan, 300e3, 500e3),
    )
    return _by_age(
        c,
        np.where(_between(s, 50e3, 100e3), small, medium),
        np.where(_between(s, 75e3, 125e3), medium, large),
        np.where(_between(s, 25e3, 75e3), large, small),
    )


def _f6(c: Columns) -> np.ndarray:
    t = c["salary"] + c["commission"]
    return _by_age(c, _between(t, 50e3, 100e3), _between(t, 75e3, 125e3), _between(t, 25e3, 75e3))


def _income(c: Columns) -> np.ndarray:
    return 2.0 * (c["salary"] + c["commission"]) / 3.0


def _f7(c: Columns) -> np.ndarray:
    return _income(c) - c["loan"] / 5.0 - 20e3 > 0


def _f8(c: Columns) -> np.ndarray:
    return _income(c) - 5e3 * c["elevel"] - 20e3 > 0


def _f9(c: Columns) -> np.ndarray:
    return _income(c) - 5e3 * c["elevel"] - c["loan"] / 5.0 - 10e3 > 0


def _f10(c: Columns) -> np.ndarray:
    equity = np.where(c["hyears"] >= 20, c["hvalue"] * (c["hyears"] - 20.0) / 10.0, 0.0)
    return _income(c) - 5e3 * c["elevel"] + equity / 5.0 - 10e3 > 0


LABELLING_FUNCTIONS: dict[int, Callable[[Columns], np.ndarray]] = {
    i + 1: f for i, f in enumerate((_f1, _f2, _f3, _f4, _f5, _f6, _f7, _f8, _f9, _f10))
}


def label(frame: pd.DataFrame, function: int) -> np.ndarray:
    """Labels of a frame of attributes under one of the ten functions (0 = Group A)."""
    columns = {name: frame[name].to_numpy() for name in FEATURES}
    return np.where(LABELLING_FUNCTIONS[function](columns), 0, 1).astype(np.int64)


@dataclass(frozen=True)
class LoanStream:
    """Settings of the stream; `generate(key)` is a pure function of them and the key."""

    rows_per_partition: int = 2000
    seed: int = 0
    function: int = 1
    drift_function: int = 2
    drift_day: date | None = None
    label_noise: float = 0.05

    def function_for(self, key: str) -> int:
        if self.drift_day is not None and _as_date(key) >= self.drift_day:
            return self.drift_function
        return self.function

    def generate(self, key: str, rows: int | None = None) -> pd.DataFrame:
        n = self.rows_per_partition if rows is None else rows
        digest = hashlib.sha256(key.encode()).digest()
        rng = np.random.default_rng([self.seed, int.from_bytes(digest[:8], "little")])
        salary = rng.uniform(20e3, 150e3, n)
        zipcode = rng.integers(0, 9, n)
        frame = pd.DataFrame(
            {
                "salary": salary,
                "commission": np.where(salary >= 75e3, 0.0, rng.uniform(10e3, 75e3, n)),
                "age": rng.integers(20, 81, n),
                "elevel": rng.integers(0, 5, n),
                "car": rng.integers(1, 21, n),
                "zipcode": zipcode,
                "hvalue": (9.0 - zipcode) * 100e3 * rng.uniform(0.5, 1.5, n),
                "hyears": rng.integers(1, 31, n),
                "loan": rng.uniform(0.0, 500e3, n),
            }
        )
        labels = label(frame, self.function_for(key))
        flip = rng.random(n) < self.label_noise
        frame[TARGET] = np.where(flip, 1 - labels, labels)
        return frame


def _as_date(key: str) -> date:
    """Partition keys of the stream are days; monthly keys count from their first day."""
    try:
        return date.fromisoformat(key[:10])
    except ValueError as exc:
        raise ValueError(f"partition key '{key}' is not a date (YYYY-MM-DD)") from exc


def loan_day(key: str, rows: int = 2000, **settings: object) -> pd.DataFrame:
    """One day of the stream: the generator function the spec's `source` names."""
    return LoanStream(rows_per_partition=rows, **settings).generate(key)  # type: ignore[arg-type]
