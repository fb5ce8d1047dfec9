"""`assetbook notebook` on a day that failed its check says the day failed, not only that
nothing is stored for it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from assetbook.cli.notebook import opened_parameters
from assetbook.cli.session import Session
from assetbook.errors import AssetbookError
from assetbook.resources.state import StateFolder
from project.stream import LoanStream
from tests.conftest import build_defs, land, materialize

VALIDATED = ["raw_applications", "validated_applications"]


def test_a_day_that_failed_validation_is_said_to_have_failed(
        project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = StateFolder.for_project(project_dir)
    monkeypatch.setenv("DAGSTER_HOME", str(state.dagster_home))  # the session sets it
    (good,) = land(project_dir, 1)
    bad = "2024-01-02"
    frame = LoanStream(rows_per_partition=50).generate(bad)
    frame.loc[:2, "age"] = 7  # below the schema's 18
    frame.to_parquet(state.landing("raw_applications") / f"{bad}.parquet")
    defs = build_defs(project_dir)
    with dg.DagsterInstance.from_config(str(state.prepare_dagster_home())) as instance:
        assert materialize(defs, instance, VALIDATED, [good]).success
        assert not materialize(defs, instance, VALIDATED, [bad]).success
    session = Session(project_dir)
    with pytest.raises(AssetbookError) as refused:
        opened_parameters(session, "features", bad, None)
    assert str(refused.value) == (
        f"'features' ({bad}) would read no stored partition of validated_applications, whose "
        f"{bad} failed in its last run (`assetbook run` tries it again and says why); pick "
        f"another with --partition (materialized: {good})")
    parameters = opened_parameters(session, "features", good, None)[1]
    assert [entry["key"] for entry in parameters["partitions"]] == [good]
