"""Drift reports: PSI per column against the days before, a warning check, and a new search
when a day drifts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from assetbook.graph.context import since_drift_onset
from assetbook.resources.state import StateFolder
from assetbook.runners.drift import drift_table, noise_floor, population_stability
from assetbook.runners.simulator import land_days
from project.stream import LoanStream
from tests.conftest import DATA, build_defs, evaluate_automation, materialize

DRIFT = [*DATA, "drift_report"]


def test_psi_is_near_zero_for_one_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = pd.Series(rng.normal(0, 1, 20_000))
    assert population_stability(reference, pd.Series(rng.normal(0, 1, 2000))) < 0.02
    assert population_stability(reference, pd.Series(rng.normal(1, 1, 2000))) > 0.5
    labels = pd.Series([0] * 65 + [1] * 35)
    assert population_stability(labels, pd.Series([0] * 40 + [1] * 60)) > 0.25
    assert population_stability(labels, labels) == pytest.approx(0.0, abs=1e-9)


def test_a_column_is_binned_by_value_only_when_all_its_rows_hold_few_values() -> None:
    """Its first rows decide quickly but never alone: a column whose many values come late is
    binned by the reference's quantiles (by value, a second sample of it would look shifted),
    and a value the reference never held counts as a shift."""
    rng = np.random.default_rng(0)

    def zeros_then_normal() -> pd.Series:
        return pd.Series(np.r_[np.zeros(5000), rng.normal(0, 1, 5000)])

    assert population_stability(zeros_then_normal(), zeros_then_normal()) < 0.01
    labels = pd.Series([0] * 500 + [1] * 500)
    assert population_stability(labels, pd.Series([0] * 400 + [1] * 400 + [2] * 200)) > 0.25


def test_table_flags_only_columns_past_the_threshold() -> None:
    stream = LoanStream(rows_per_partition=3000, seed=1, function=1, drift_function=2,
                        drift_day=date(2024, 1, 2))
    before, after = stream.generate("2024-01-01"), stream.generate("2024-01-02")
    table = drift_table(before, after, threshold=0.1).set_index("column")
    assert list(table.index[table["drifted"]]) == ["label"]  # concept drift: only the label
    assert table.loc["salary", "psi"] < 0.05


def land_with_drift(root: Path, days: int, drift_day: date) -> list[str]:
    stream = LoanStream(rows_per_partition=1500, seed=3, function=1, drift_function=2,
                        drift_day=drift_day)
    folder = StateFolder.for_project(root).landing("raw_applications")
    return [p.stem for p in land_days(folder, stream.generate, date(2024, 1, 1), days)]


def _drifted_days(state: StateFolder) -> set[str]:
    return {path.stem for path in (state.artifacts / "drift_report").glob("*.parquet")
            if pd.read_parquet(path)["drifted"].any()}


@pytest.mark.slow
def test_days_after_the_drift_day_are_flagged_and_trigger_a_new_search(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    defs = build_defs(project_dir)
    keys = land_with_drift(project_dir, 9, drift_day=date(2024, 1, 8))
    assert materialize(defs, instance, DRIFT, keys[:7]).success
    assert _drifted_days(state) == set()  # days before the drift day are not flagged
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("drift_report"), "no_drift")])
    assert all(record.status.value == "SUCCEEDED" for record in check.values())

    seeded = evaluate_automation(defs=defs, instance=instance)
    assert materialize(defs, instance, DRIFT, keys[7:]).success
    assert _drifted_days(state) == {"2024-01-08", "2024-01-09"}
    report = pd.read_parquet(state.artifacts / "drift_report" / "2024-01-08.parquet")
    assert report.set_index("column").loc["label", "reference_days"] == 7
    (record,) = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("drift_report"), "no_drift")]).values()
    evaluation = record.event.dagster_event.event_specific_data
    assert not evaluation.passed and "label: PSI" in evaluation.description

    result = evaluate_automation(defs=defs, instance=instance,
                                               cursor=seeded.cursor)
    assert result.get_num_requested(dg.AssetKey("hyperparameters")) == 1
    quiet = evaluate_automation(defs=defs, instance=instance, cursor=result.cursor)
    assert quiet.get_num_requested(dg.AssetKey("hyperparameters")) == 0  # once per drift


def test_small_samples_of_one_distribution_stay_below_the_noise_floor() -> None:
    stream = LoanStream(rows_per_partition=300, seed=5)
    table = drift_table(stream.generate("2024-01-01"), stream.generate("2024-01-02"),
                        threshold=0.1)
    assert (table["psi"] > 0.1).any()  # raw PSI of 300 rows is noisy ...
    assert not table["drifted"].any()  # ... and the chi-square floor keeps it quiet


@pytest.mark.parametrize("shuffle", range(5))
def test_small_days_of_one_distribution_flag_no_column_on_any_day(shuffle: int) -> None:
    """30 numeric columns, days of 50 i.i.d. rows, each against the days before it (up to
    14, as `drift_report` does). With 1e-4 added to the shares, each bin empty by chance
    weighed ~0.69, and 22 to 34 columns were flagged over the 10 days of each shuffle."""
    rows = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    rows = rows.sample(frac=1, random_state=shuffle).reset_index(drop=True)
    days = [rows.iloc[start:start + 50] for start in range(0, len(rows) - 49, 50)]
    assert len(days) == 11
    flagged = {}
    for i, day in enumerate(days[1:], start=1):
        table = drift_table(pd.concat(days[max(0, i - 14):i]), day, threshold=0.1)
        flagged.update({f"day {i} {row.column}": f"PSI {row.psi:.3f} > {row.noise_floor:.3f}"
                        for row in table[table["drifted"]].itertuples()})
    assert flagged == {}


def test_a_small_day_gets_fewer_bins_and_the_noise_floor_of_those() -> None:
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 700)})
    (row,) = drift_table(reference, pd.DataFrame({"x": rng.normal(0, 1, 20)}),
                         threshold=0.1).itertuples()
    assert row.noise_floor == pytest.approx(noise_floor(700, 20, bins=4))  # 5 rows a bin


def test_the_noise_floor_is_the_chi_square_quantile_over_the_samples_sizes() -> None:
    """Tables' values: chi-square quantiles 0.999 at 1 and 9 degrees of freedom."""
    assert noise_floor(100, 100, bins=2, confidence=0.999) == pytest.approx(10.828 * 0.02,
                                                                           rel=1e-4)
    assert noise_floor(1000, 250, bins=10, confidence=0.999) == pytest.approx(
        27.877 * (1 / 1000 + 1 / 250), rel=1e-4)


def test_window_after_a_drift_starts_at_its_first_day() -> None:
    days = [f"2024-01-{d:02d}" for d in range(1, 11)]
    flags = {day: day >= "2024-01-06" for day in days}
    window = days[2:8]  # 03 .. 08
    assert since_drift_onset(window, flags) == ["2024-01-06", "2024-01-07", "2024-01-08"]
    assert since_drift_onset(days[:4], flags) == days[:4]  # nothing that recent: all of it
    assert since_drift_onset(window, dict.fromkeys(days, False)) == window
    flags["2024-01-02"] = True  # an older, separate drift does not move the onset
    assert since_drift_onset(window, flags)[0] == "2024-01-06"
