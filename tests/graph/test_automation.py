"""Declarative automation, evaluated for real against the instance (no daemon needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import nbformat

from assetbook.graph.landing_chain import LANDING_RUN_TAG
from assetbook.resources.state import StateFolder
from tests.conftest import DATA, build_defs, evaluate_automation, land, materialize
from tests.conftest import requested as requested_of

SUMMARY_SPEC = """
  summary:
    kind: notebook
    description: One row per day, below features, to see automation reach the next level.
    notebook: notebooks/summary.ipynb
    inputs: {features: all}
"""
SUMMARY_CODE = """
import pandas as pd
pd.DataFrame({"days": [len(p["inputs"]["features"]) for p in partitions]}).to_parquet(
    partitions[0]["output"])
"""


def requested(result) -> dict[str, set[str | None]]:
    return requested_of(result, [*DATA, "summary"])


def add_summary(root: Path) -> None:
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("partitions = []\nconfig = {}",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(SUMMARY_CODE),
    ])
    nbformat.write(notebook, root / "notebooks" / "summary.ipynb")
    spec = root / "assets" / "loans.yaml"
    spec.write_text(spec.read_text() + SUMMARY_SPEC)


def materialized(root: Path, instance: dg.DagsterInstance, days: int):
    """The pipeline with a summary asset, all materialized, and a first evaluation done."""
    add_summary(root)
    defs = build_defs(root)
    keys = land(root, days)
    assert materialize(defs, instance, DATA, keys).success
    assert materialize(defs, instance, ["summary"]).success
    return defs, keys, evaluate_automation(defs=defs, instance=instance)


def test_new_partition_requests_exactly_that_partition_downstream(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    defs, _, seed = materialized(project_dir, instance, 1)
    quiet = evaluate_automation(defs=defs, instance=instance, cursor=seed.cursor)
    assert quiet.total_requested == 0  # nothing changed, nothing requested

    second = land(project_dir, 1)  # the source alone (the sensor's run takes the day further:
    assert materialize(defs, instance, ["raw_applications"], second).success  # test_landing)
    result = evaluate_automation(defs=defs, instance=instance, cursor=quiet.cursor)
    assert requested(result) == {"validated_applications": set(second), "features": set(second)}

    # Partitioned and unpartitioned assets never share a run: the summary follows next tick.
    assert materialize(defs, instance, DATA[1:], second).success
    after = evaluate_automation(defs=defs, instance=instance, cursor=result.cursor)
    assert requested(after) == {"summary": {None}}
    assert after.get_num_requested(dg.AssetKey("summary")) == 1


def test_a_day_whose_landing_run_updated_its_dependency_is_left_to_that_run(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    """The landing sensor's run takes its day through features itself. A tick can read
    features' status from a record loaded before that run materialized the day, and see the
    day neither materialized nor in progress, as here where the run stopped before features:
    that day is not requested again. A day another run updated still is."""
    defs, _, seed = materialized(project_dir, instance, 1)
    landed, updated = land(project_dir, 2)[-2:]
    assert materialize(defs, instance, DATA[:2], [landed],
                       tags={LANDING_RUN_TAG: "raw_applications"}).success
    assert materialize(defs, instance, DATA[:2], [updated]).success
    result = evaluate_automation(defs=defs, instance=instance, cursor=seed.cursor)
    assert requested(result) == {"features": {updated}}


def test_edited_notebook_requests_its_asset_and_below_only(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    _, keys, seed = materialized(project_dir, instance, 2)

    path = project_dir / "notebooks" / "features.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[4].source += "\n# a reviewer asked for a comment"
    nbformat.write(notebook, path)
    edited = build_defs(project_dir)
    result = evaluate_automation(defs=edited, instance=instance, cursor=seed.cursor)
    assert requested(result) == {"features": set(keys)}

    assert materialize(edited, instance, ["features"], keys).success
    after = evaluate_automation(defs=edited, instance=instance, cursor=result.cursor)
    assert requested(after) == {"summary": {None}}  # and then the asset below it
    assert materialize(edited, instance, ["summary"]).success
    done = evaluate_automation(defs=edited, instance=instance, cursor=after.cursor)
    assert done.total_requested == 0  # fires once per change


def test_only_unpartitioned_assets_refresh_when_freshness_is_at_risk(
    project_dir: Path
) -> None:
    """Re-running a day brings no newer data, so partitioned assets only report freshness;
    the refresh itself runs under the daemon in tests/e2e/test_freshness.py."""
    graph = build_defs(project_dir).resolve_asset_graph()
    assert "freshness" in graph.get(dg.AssetKey("evaluation_report")).automation_condition \
        .get_label()
    assert "freshness" not in graph.get(dg.AssetKey("features")).automation_condition \
        .get_label()


def test_a_withheld_day_does_not_stop_the_assets_that_read_all_days(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    defs, _, seed = materialized(project_dir, instance, 2)
    folder = StateFolder.for_project(project_dir).landing("raw_applications")
    (folder / "2024-01-03.csv").write_text("salary,age\n1,2\n")  # fails its schema check
    assert not materialize(defs, instance, DATA, ["2024-01-03"]).success
    bad = evaluate_automation(defs=defs, instance=instance, cursor=seed.cursor)
    assert "summary" not in requested(bad)  # nothing new to read yet

    good = land(project_dir, 1)  # 2024-01-04
    assert materialize(defs, instance, DATA, good).success
    after = evaluate_automation(defs=defs, instance=instance, cursor=bad.cursor)
    assert requested(after) == {"summary": {None}}  # 01-03's missing features do not block it


def test_a_dependency_updated_after_the_asset_between_two_ticks_is_not_lost(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    """Dagster's eager lets the asset's own update cancel a dependency's update seen on the
    same tick, whichever came first: labels corrected just after the live asset ran were
    never judged. The later of the two updates now decides."""
    defs, _, seed = materialized(project_dir, instance, 1)
    assert materialize(defs, instance, ["summary"]).success  # the asset, then its data
    assert materialize(defs, instance, DATA, land(project_dir, 1)).success
    result = evaluate_automation(defs=defs, instance=instance, cursor=seed.cursor)
    assert requested(result) == {"summary": {None}}

    assert materialize(defs, instance, DATA, land(project_dir, 1)).success  # its data, then
    assert materialize(defs, instance, ["summary"]).success  # the asset: nothing left to do
    after = evaluate_automation(defs=defs, instance=instance, cursor=result.cursor)
    assert requested(after) == {}  # (the new day's drift report is due, as always)


def test_the_search_runs_once_after_its_cron_tick_when_its_inputs_have_moved(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    """The tuning's default, `on_cron: 0 3 * * 1`: the first tick after Monday 03:00 at
    which features and the drift report have a new day requests the search, once. (Every other
    test evaluates at one instant: see `evaluate_automation`.)"""
    defs = build_defs(project_dir)
    below = [*DATA, "drift_report"]
    assert materialize(defs, instance, below, land(project_dir, 2)).success
    monday = datetime(2024, 1, 8, tzinfo=UTC)
    seed = evaluate_automation(defs, instance, at=monday.replace(hour=2, minute=59))
    tick = evaluate_automation(defs, instance, seed.cursor, at=monday.replace(hour=3, minute=1))
    assert "hyperparameters" not in requested(tick)  # nothing new since the tick yet

    assert materialize(defs, instance, below, land(project_dir, 1)).success
    due = evaluate_automation(defs, instance, tick.cursor, at=monday.replace(hour=3, minute=5))
    assert requested_of(due, ["hyperparameters"]) == {"hyperparameters": {None}}
    later = evaluate_automation(defs, instance, due.cursor, at=monday.replace(hour=3, minute=9))
    assert "hyperparameters" not in requested(later)  # the request handled the tick
