"""Files landing in a folder become partitions; an unreadable file fails only its own day."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from assetbook.graph.landing_chain import landing_chain
from assetbook.resources.state import StateFolder
from assetbook.spec.loader import load_project
from tests.conftest import (
    DATA,
    build_defs,
    evaluate_automation,
    failure_messages,
    land,
    materialize,
    requested,
    write_spec,
)


def evaluate(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None):
    sensor = defs.get_sensor_def("raw_applications_landing")
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as context:
        return sensor(context)


def test_landed_files_become_partitions_once(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_defs(project_dir)
    first = land(project_dir, 2)
    result = evaluate(defs, instance, None)
    assert [r.partition_key for r in result.run_requests] == first
    (add,) = result.dynamic_partitions_requests
    assert add.partitions_def_name == "days" and list(add.partition_keys) == first

    instance.add_dynamic_partitions("days", first)  # what the daemon does with the request
    assert evaluate(defs, instance, result.cursor).run_requests == []

    second = land(project_dir, 1)
    later = evaluate(defs, instance, result.cursor)
    assert [r.partition_key for r in later.run_requests] == second
    assert list(later.dynamic_partitions_requests[0].partition_keys) == second


def test_first_tick_skips_days_materialized_before_the_sensor_ran(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    """`assetbook run` first, `dagster dev` later: starting the daemon recomputes nothing."""
    defs = build_defs(project_dir)
    done = land(project_dir, 2)
    assert materialize(defs, instance, ["raw_applications"], done).success
    new = land(project_dir, 1)
    result = evaluate(defs, instance, None)
    assert [r.partition_key for r in result.run_requests] == new


def test_files_in_flight_and_names_that_are_not_days_are_ignored(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    folder = state.landing("raw_applications")
    folder.mkdir(parents=True)
    (folder / ".2024-01-01.abc.tmp.parquet").write_bytes(b"half")
    (folder / "notes.txt").write_text("not data")
    for name in ("-rf.csv", "notes.csv", "2024-02-30.csv", "2024-1-5.csv",  # not days
                 "\uff12\uff10\uff12\uff14-01-05.csv"):  # nor in other digits
        (folder / name).write_text("a\n1\n")
    assert evaluate(build_defs(project_dir), instance, None).run_requests == []


def test_unreadable_file_fails_its_partition_with_its_name(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    good = land(project_dir, 1)
    broken = state.landing("raw_applications") / "2024-01-09.parquet"
    broken.write_bytes(b"PAR1 this is not a parquet file")
    defs = build_defs(project_dir)

    result = materialize(defs, instance, ["raw_applications"], ["2024-01-09"])
    assert not result.success
    message = failure_messages(result)
    assert f"cannot read landed file {broken}" in message
    assert materialize(defs, instance, ["raw_applications"], good).success


def test_empty_csv_is_refused(project_dir: Path, state: StateFolder,
                              instance: dg.DagsterInstance) -> None:
    folder = state.landing("raw_applications")
    folder.mkdir(parents=True)
    (folder / "2024-01-03.csv").write_text("")
    result = materialize(build_defs(project_dir), instance, ["raw_applications"], ["2024-01-03"])
    assert "cannot read landed file" in failure_messages(result)
    assert "2024-01-03.csv" in failure_messages(result)


def test_a_corrected_file_is_requested_again_and_an_identical_rewrite_is_not(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    defs = build_defs(project_dir)
    days = land(project_dir, 3)
    first = evaluate(defs, instance, None)
    instance.add_dynamic_partitions("days", days)
    folder = state.landing("raw_applications")

    same = folder / f"{days[0]}.parquet"
    content = same.read_bytes()
    same.unlink()
    same.write_bytes(content)  # a new modification time, the same bytes
    untouched = evaluate(defs, instance, first.cursor)
    assert untouched.run_requests == []

    corrected = folder / f"{days[1]}.parquet"
    pd.read_parquet(corrected).iloc[:10].to_parquet(corrected)
    again = evaluate(defs, instance, untouched.cursor)
    assert [r.partition_key for r in again.run_requests] == [days[1]]
    assert evaluate(defs, instance, again.cursor).run_requests == []


def test_first_tick_requests_a_day_corrected_since_it_was_read(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    """`assetbook run`, then the file of a day is corrected, then `dagster dev` starts."""
    defs = build_defs(project_dir)
    days = land(project_dir, 2)
    assert materialize(defs, instance, ["raw_applications"], days).success
    corrected = state.landing("raw_applications") / f"{days[0]}.parquet"
    pd.read_parquet(corrected).iloc[:10].to_parquet(corrected)
    result = evaluate(defs, instance, None)
    assert [r.partition_key for r in result.run_requests] == [days[0]]


def landing_run(defs: dg.Definitions) -> list[str]:
    """The assets the landing sensor's run requests, in graph order."""
    graph = defs.resolve_asset_graph()
    selected = defs.get_sensor_def("raw_applications_landing").asset_selection.resolve(graph)
    return [key.to_user_string() for key in graph.toposorted_asset_keys if key in selected]


def requested_below_raw(result) -> dict[str, set[str | None]]:
    return requested(result, [*DATA[1:], "drift_report", "hyperparameters"])


BELOW_FEATURES = """pipeline: below_features
assets:
  weekly:      # on a schedule: automation's
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {features: same}
    automation: {type: on_cron, cron: "0 0 * * 1"}
  every_day:   # reads the other days too
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {features: all}
  joined:      # the day, and what reads the other days
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {features: same, every_day: same}
  copied:      # the day only, two steps further down
    kind: notebook
    partitions: days
    notebook: notebooks/features.ipynb
    inputs: {drift_report: same}
"""


def test_the_sensors_run_takes_only_what_reads_the_day_alone_and_is_eager(
    project_dir: Path
) -> None:
    write_spec(project_dir, BELOW_FEATURES, "below_features.yaml")
    assert landing_chain(load_project(project_dir), "raw_applications") == [
        *DATA, "drift_report", "copied"]


def test_a_corrected_day_is_taken_through_its_own_assets_in_the_sensors_run(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    """What `dagster dev` does with the sensor's request: the corrected day gets a new data
    version, and the same run takes it through the day's own assets, nothing else; after
    it, automation requests none of them again (but the models that read the day)."""
    defs = build_defs(project_dir)
    assert landing_run(defs) == [*DATA, "drift_report"]
    days = land(project_dir, 3)
    instance.add_dynamic_partitions("days", days)
    assert materialize(defs, instance, [*DATA, "drift_report"], days).success
    seed = evaluate_automation(defs=defs, instance=instance)
    corrected = state.landing("raw_applications") / f"{days[1]}.parquet"
    pd.read_parquet(corrected).iloc[:10].to_parquet(corrected)
    (request,) = evaluate(defs, instance, None).run_requests
    assert request.asset_selection is None  # the sensor's own selection: landing_run above
    assert request.partition_key == days[1]
    result = materialize(defs, instance, landing_run(defs), [days[1]])
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
            } == set(landing_run(defs))

    after = evaluate_automation(defs=defs, instance=instance, cursor=seed.cursor)
    assert requested_below_raw(after) == {}  # hyperparameters runs on its schedule or a drift
    assert evaluate_automation(defs=defs, instance=instance,
                                             cursor=after.cursor).total_requested == 0


def test_a_day_its_check_withholds_in_the_sensors_run_is_not_tried_again(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    defs = build_defs(project_dir)
    days = land(project_dir, 2)
    instance.add_dynamic_partitions("days", days)
    assert materialize(defs, instance, landing_run(defs), days).success
    seed = evaluate_automation(defs=defs, instance=instance)
    folder = state.landing("raw_applications")
    (folder / "2024-01-03.csv").write_text("salary,age\n1,2\n")  # fails its schema check
    instance.add_dynamic_partitions("days", ["2024-01-03"])
    assert not materialize(defs, instance, landing_run(defs), ["2024-01-03"]).success
    assert "2024-01-03" in instance.get_materialized_partitions(dg.AssetKey("raw_applications"))

    after = evaluate_automation(defs=defs, instance=instance, cursor=seed.cursor)
    assert requested_below_raw(after) == {}


def test_a_day_materialized_at_the_source_alone_still_flows_down_by_automation(
    project_dir: Path, instance: dg.DagsterInstance
) -> None:
    """A run of the source alone (from the UI, say) is not the sensor's: eager takes the
    day down as before."""
    defs = build_defs(project_dir)
    days = land(project_dir, 2)
    instance.add_dynamic_partitions("days", days)
    assert materialize(defs, instance, landing_run(defs), days[:1]).success
    seed = evaluate_automation(defs=defs, instance=instance)
    assert materialize(defs, instance, ["raw_applications"], days[1:]).success
    after = evaluate_automation(defs=defs, instance=instance, cursor=seed.cursor)
    assert requested_below_raw(after) == {name: set(days[1:]) for name in landing_run(defs)[1:]}
