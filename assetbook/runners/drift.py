"""Per-column drift of one day against a reference (the days a model trains on).

The statistic is the population stability index (PSI), the field's usual score for "has this
column's distribution moved": bins are the reference's deciles (or its values, for columns
with few distinct values), and PSI = sum((day - ref) * ln(day / ref)) over the bins' shares.
Read it as: < 0.1 stable, 0.1-0.25 moderate, > 0.25 a real shift. Concept drift, where the
labelling changes but the inputs do not, shows in the label column, so it is scored too.

Two samples of one distribution still differ: their PSI times n*m/(n+m) follows a chi-square
with (bins - 1) degrees of freedom. A column is flagged only when its PSI is above the
threshold *and* above that chi-square's 99.9% quantile, so a small day or a short reference
does not raise false alarms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEW_VALUES = 20  # a column with at most this many distinct values is binned by value
SMOOTHING = 1e-4  # keeps the log finite when a bin is empty on one side


def population_stability(reference: pd.Series, day: pd.Series, bins: int = 10) -> float:
    """PSI of `day` against `reference`; 0 when both are distributed alike."""
    return _psi_and_bins(reference.dropna(), day.dropna(), bins)[0]


def noise_floor(reference_rows: int, day_rows: int, bins: int,
                confidence: float = 0.999) -> float:
    """The PSI that two samples of these sizes from one distribution stay below."""
    from scipy.stats import chi2  # 1.5 s to import: only where drift is measured

    return float(chi2.ppf(confidence, max(bins - 1, 1)) * (1 / reference_rows + 1 / day_rows))


def _psi_and_bins(reference: pd.Series, day: pd.Series, bins: int) -> tuple[float, int]:
    if reference.empty or day.empty:
        return float("nan"), 0
    if reference.nunique() <= FEW_VALUES:
        values = np.union1d(reference.unique(), day.unique())
        ref_share = reference.value_counts(normalize=True).reindex(values, fill_value=0.0)
        day_share = day.value_counts(normalize=True).reindex(values, fill_value=0.0)
    else:
        inner = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1))[1:-1])
        ref_share = _shares(reference, inner)
        day_share = _shares(day, inner)
    ref_p = np.asarray(ref_share, dtype=float) + SMOOTHING
    day_p = np.asarray(day_share, dtype=float) + SMOOTHING
    return float(np.sum((day_p - ref_p) * np.log(day_p / ref_p))), len(ref_p)


def _shares(values: pd.Series, inner_edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(inner_edges, values, side="right"),
                         minlength=len(inner_edges) + 1)
    return counts / counts.sum()


def drift_table(reference: pd.DataFrame, day: pd.DataFrame, threshold: float,
                columns: list[str] | None = None, bins: int = 10) -> pd.DataFrame:
    """One row per numeric column: reference and day means, PSI, the sampling noise floor,
    and whether it drifted (past both the threshold and the floor)."""
    if columns is None:
        columns = [c for c in day.columns
                   if pd.api.types.is_numeric_dtype(day[c]) and c in reference.columns]
    rows = []
    for column in columns:
        ref, new = reference[column].dropna(), day[column].dropna()
        psi, used = _psi_and_bins(ref, new, bins)
        rows.append({"column": column, "reference_mean": float(ref.mean()),
                     "day_mean": float(new.mean()), "psi": psi,
                     "noise_floor": noise_floor(len(ref), len(new), used) if used else np.nan})
    table = pd.DataFrame(rows, columns=["column", "reference_mean", "day_mean", "psi",
                                        "noise_floor"])
    table["drifted"] = (table["psi"] > threshold) & (table["psi"] > table["noise_floor"])
    return table
