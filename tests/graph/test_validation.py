"""Bad days fail their blocking pandera check, block everything downstream, and leave good
days flowing."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assetbook.graph.checks import fractions_cut
from assetbook.resources.state import StateFolder
from assetbook.serving.request import load_schema
from project.stream import LoanStream
from tests.conftest import DATA, build_defs, land, materialize


def _bad_nulls(f: pd.DataFrame) -> pd.DataFrame:
    f["age"] = f["age"].astype(float)
    f.loc[:2, "age"] = np.nan
    return f


def _bad_range(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[:4, "zipcode"] = 42
    return f


def _bad_type(f: pd.DataFrame) -> pd.DataFrame:
    f["salary"] = f["salary"].astype(str)
    f.loc[0, "salary"] = "lots"
    return f


def _fraction(f: pd.DataFrame) -> pd.DataFrame:
    f["age"] = f["age"].astype(float)  # whole numbers as decimals, as a CSV reads them
    f.loc[3, "age"] = 45.5  # which the cast to int64 would have cut to 45
    return f


def _missing_column(f: pd.DataFrame) -> pd.DataFrame:
    return f.drop(columns=["loan"])


CASES = {
    "nulls": (_bad_nulls, ["column 'age'", "not_nullable fails in 3 row(s)"]),
    "range": (_bad_range, ["column 'zipcode'", "less_than_or_equal_to(8) fails in 5 row(s)", "42"]),
    "type": (_bad_type, ["column 'salary'", "coerce_dtype('float64')", "lots"]),
    "missing": (_missing_column, ["column 'loan' is missing (column_in_dataframe)"]),
    "fraction": (_fraction, ["column 'age': not a whole number for int64 in 1 row(s), e.g. "
                             "[45.5]"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_day_is_blocked_and_good_days_flow(
    case: str, project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    good = land(project_dir, 1)[0]
    corrupt, expected = CASES[case]
    bad = "2024-01-02"
    frame = corrupt(LoanStream(rows_per_partition=100).generate(bad))
    frame.to_parquet(state.landing("raw_applications") / f"{bad}.parquet")
    defs = build_defs(project_dir)

    assert materialize(defs, instance, DATA, [good]).success
    result = materialize(defs, instance, DATA, [bad])

    assert not result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "LoanApplications_schema" and not evaluation.passed
    for text in expected:
        assert text in evaluation.description
    for asset in ("validated_applications", "features"):
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {good}
    assert not (state.artifacts / "validated_applications" / f"{bad}.parquet").exists()
    # the raw day is kept as landed, so the user can see what arrived
    assert instance.get_materialized_partitions(dg.AssetKey("raw_applications")) == {good, bad}


def test_good_day_passes_its_check(project_dir: Path, instance: dg.DagsterInstance) -> None:
    result = materialize(build_defs(project_dir), instance, DATA, land(project_dir, 1))
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.description == "all rows valid"


def test_whole_numbers_as_decimals_pass_and_only_fractions_are_cut() -> None:
    schema = load_schema("project.schemas:LoanApplications")
    frame = LoanStream(rows_per_partition=20).generate("2024-01-01")
    frame["age"] = frame["age"].astype(float)
    frame.loc[5, "hyears"] = np.nan  # no fraction: its own rule (not_nullable) says no
    assert fractions_cut(schema, frame) == {}
    frame.loc[[1, 2], "age"] = [30.25, np.inf]
    frame.loc[0, "salary"] = 1000.5  # a float column: nothing to cut
    assert {name: values.tolist() for name, values in fractions_cut(schema, frame).items()} \
        == {"age": [30.25, np.inf]}
