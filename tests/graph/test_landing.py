"""Files landing in a folder become partitions; an unreadable file fails only its own day."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from assetbook.resources.state import StateFolder
from tests.conftest import DATA, build_defs, failure_messages, land, materialize


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


def test_files_in_flight_and_unsafe_names_are_ignored(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    folder = state.landing("raw_applications")
    folder.mkdir(parents=True)
    (folder / ".2024-01-01.abc.tmp.parquet").write_bytes(b"half")
    (folder / "notes.txt").write_text("not data")
    (folder / "-rf.csv").write_text("a\n1\n")
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


def test_automation_takes_a_corrected_day_down_the_graph_and_only_that_day(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance
) -> None:
    """What `dagster dev` does with the sensor's request: the day's raw partition gets a new
    data version, and declarative automation requests the same day below it, nothing else."""
    defs = build_defs(project_dir)
    days = land(project_dir, 3)
    instance.add_dynamic_partitions("days", days)
    assert materialize(defs, instance, DATA, days).success
    seed = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    corrected = state.landing("raw_applications") / f"{days[1]}.parquet"
    pd.read_parquet(corrected).iloc[:10].to_parquet(corrected)
    (request,) = evaluate(defs, instance, None).run_requests
    assert materialize(defs, instance, ["raw_applications"], [request.partition_key]).success

    result = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                               cursor=seed.cursor)
    assert {key.to_user_string(): set(result.get_requested_partitions(key))
            for key in (dg.AssetKey(a) for a in DATA[1:]) if result.get_num_requested(key)
            } == {"validated_applications": {days[1]}, "features": {days[1]}}
