"""A notebook with `outputs` writes several assets in one run (a percent-format .py here): each
is an asset of its own in the graph, stored, checked and withheld on its own, with the
notebook's partitions, and read by name (`load`, `assetbook status`, `assetbook notebook`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest

from assetbook import load
from assetbook.cli.notebook import opened_parameters
from assetbook.cli.session import Session
from assetbook.cli.status import asset_statuses, landed_days
from assetbook.errors import AssetbookError
from assetbook.resources.state import STATE_ENV, StateFolder
from tests.conftest import build_defs, copy_example, failure_messages, materialize, write_spec


class Features(pa.DataFrameModel):
    salary: float
    income: float = pa.Field(ge=0)


class Summary(pa.DataFrameModel):
    day: str
    rows: int = pa.Field(ge=1)


SPEC = """
pipeline: tables
partitions:
  days: {type: daily, start: 2024-03-01, end: 2024-03-05}
assets:
  applications:
    kind: source
    partitions: days
    source: {type: generator, generator: project.stream:loan_day, rows: 50}
  daily_tables:
    kind: notebook
    notebook: notebooks/tables.py
    partitions: days
    inputs: {applications: same}
    config: {broken_day: "2024-03-04"}  # its summary fails its check
    outputs:
      features:
        checks: [{schema: "tests.graph.test_multi_output_notebooks:Features"}]
        freshness: {warn_after: 1d, fail_after: 2d}
      feature_summary:
        description: One row per day.
        checks: [{schema: "tests.graph.test_multi_output_notebooks:Summary"}]
  checked_features:
    kind: validate
    partitions: days
    inputs: {features: same}
    checks: [{schema: "tests.graph.test_multi_output_notebooks:Features"}]
  checked_summary:
    kind: validate
    partitions: days
    inputs: {feature_summary: same}
    checks: [{schema: "tests.graph.test_multi_output_notebooks:Summary"}]
"""
NOTEBOOK = """\
# %% tags=["parameters"]
partitions = []
config = {"broken_day": ""}

# %%
import pandas as pd

for partition in partitions:
    frame = pd.concat(pd.read_parquet(path) for path in partition["inputs"]["applications"])
    features = frame[["salary"]].assign(income=frame["salary"] + frame["commission"])
    summary = pd.DataFrame({"day": [partition["key"]], "rows": [len(frame)]})
    if partition["key"] == config["broken_day"]:
        summary["rows"] = 0
    features.to_parquet(partition["outputs"]["features"])
    summary.to_parquet(partition["outputs"]["feature_summary"])
"""
DAYS = ["2024-03-01", "2024-03-02"]  # then 2024-03-03 alone, and 2024-03-04, the broken day
OUTPUTS = ["features", "feature_summary"]


def tables_project(root: Path) -> dg.Definitions:
    write_spec(root, SPEC)
    (root / "notebooks" / "tables.py").write_text(NOTEBOOK)
    return build_defs(root)


def materialized_keys(instance: dg.DagsterInstance, asset: str) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey(asset)))


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, list[bool]]:
    """Per asset, whether each of its check evaluations in the run passed."""
    found: dict[str, list[bool]] = {}
    for evaluation in result.get_asset_check_evaluations():
        found.setdefault(evaluation.asset_key.to_user_string(), []).append(evaluation.passed)
    return found


@dataclass(frozen=True)
class Tables:
    root: Path
    state: StateFolder
    defs: dg.Definitions
    checks: dict[str, list[bool]]  # of the run that materialized both days

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.state.dagster_home))


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tables]:
    """Both outputs of two days, from one run (one kernel), in the project's own instance."""
    root = copy_example(tmp_path_factory.mktemp("tables") / "proj")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(STATE_ENV, raising=False)  # the default: <project>/.assetbook
        state = StateFolder.for_project(root)
        defs = tables_project(root)
        with dg.DagsterInstance.from_config(str(state.prepare_dagster_home())) as instance:
            result = materialize(defs, instance, ["applications", *OUTPUTS], DAYS)
            assert result.success, failure_messages(result)
        patch.setenv(STATE_ENV, str(state.root))
        patch.setenv("DAGSTER_HOME", str(state.dagster_home))
        yield Tables(root, state, defs, check_results(result))


def test_each_output_is_an_asset_with_its_own_partitions_frames_and_check(
        tables: Tables) -> None:
    graph = tables.defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == {
        "applications", *OUTPUTS, "checked_features", "checked_summary"}
    days = graph.get(dg.AssetKey("applications")).partitions_def
    assert all(graph.get(dg.AssetKey(name)).partitions_def == days for name in OUTPUTS)
    step = tables.defs.get_assets_def("features")
    assert step is tables.defs.get_assets_def("feature_summary") and step.can_subset
    assert {key.to_user_string() for key in step.check_keys} == {
        "features:Features_schema", "feature_summary:Summary_schema"}
    assert len(set(step.code_versions_by_key.values())) == 1  # one notebook, one version
    assert graph.get(dg.AssetKey("feature_summary")).description == "One row per day."

    assert tables.checks == {"features": [True], "feature_summary": [True]}
    with tables.instance() as instance:
        assert all(materialized_keys(instance, name) == set(DAYS) for name in OUTPUTS)
    for day in DAYS:
        features = pd.read_parquet(tables.state.artifacts / "features" / f"{day}.parquet")
        summary = pd.read_parquet(tables.state.artifacts / "feature_summary" / f"{day}.parquet")
        assert list(features.columns) == ["salary", "income"] and len(features) == 50
        assert summary.to_dict("records") == [{"day": day, "rows": 50}]


def test_load_returns_the_frame_of_the_output_it_names(tables: Tables) -> None:
    summary = load("feature_summary", partition=DAYS[1], project=tables.root)
    assert summary.to_dict("records") == [{"day": DAYS[1], "rows": 50}]
    features = load("features", partition=DAYS[1], project=tables.root)
    pd.testing.assert_frame_equal(features, pd.read_parquet(
        tables.state.artifacts / "features" / f"{DAYS[1]}.parquet"))
    assert list(features.columns) == ["salary", "income"]
    with pytest.raises(AssetbookError, match="'daily_tables' is a notebook that writes several "
                       "assets; name one of them: features, feature_summary"):
        load("daily_tables", partition=DAYS[1], project=tables.root)


def test_status_and_the_notebook_command_see_each_output(tables: Tables) -> None:
    session = Session(tables.root)
    statuses = {status.name: status for status in asset_statuses(session, landed_days(session))}
    assert list(statuses) == ["applications", *OUTPUTS, "checked_features", "checked_summary"]
    for name in OUTPUTS:
        partitions = statuses[name].partitions
        assert partitions is not None and (partitions.materialized, partitions.total) == (2, 4)
    assert statuses["features"].freshness == "PASS" and statuses["feature_summary"].freshness \
        is None
    # the notebook opens by its own name or by any output's, with a scratch path per output
    for name in ("daily_tables", *OUTPUTS):
        declared, parameters = opened_parameters(session, name, DAYS[0], None)
        assert declared.name == "daily_tables"
        (partition,) = parameters["partitions"]
        scratch = tables.state.scratch / "daily_tables"
        assert partition["outputs"] == {output: str(scratch / output / f"{DAYS[0]}.parquet")
                                        for output in OUTPUTS}
        assert "output" not in partition


def test_a_run_of_one_output_stores_only_that_output(tables: Tables) -> None:
    day = "2024-03-03"
    with tables.instance() as instance:
        result = materialize(tables.defs, instance, ["applications", "feature_summary"], [day])
        assert result.success, failure_messages(result)
        assert day in materialized_keys(instance, "feature_summary")
        assert day not in materialized_keys(instance, "features")
    assert check_results(result) == {"feature_summary": [True]}
    assert not (tables.state.artifacts / "features" / f"{day}.parquet").exists()
    assert not list((tables.state.root / "staging" / "features").glob(f"*{day}*"))


def test_a_failed_check_withholds_its_output_and_blocks_only_its_consumers(
        tables: Tables) -> None:
    day = "2024-03-04"
    with tables.instance() as instance:
        result = materialize(tables.defs, instance, ["applications", *OUTPUTS,
                                                     "checked_features", "checked_summary"], [day])
        assert materialized_keys(instance, "checked_features") == {day}
        assert day in materialized_keys(instance, "features")
        assert day not in materialized_keys(instance, "feature_summary")
        assert not materialized_keys(instance, "checked_summary")
    assert check_results(result) == {"features": [True], "feature_summary": [False],
                                     "checked_features": [True]}
    assert not (tables.state.artifacts / "feature_summary" / f"{day}.parquet").exists()
    assert not list((tables.state.root / "staging" / "feature_summary").glob(f"*{day}*"))
    skipped = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"}
    assert skipped == {"checked_summary"}
