"""Runs whose process was killed are failed (and so retried), as are runs whose launch a
stopped code server cut off; runs whose process lives, and runs not yet started, are left
alone; a failed run whose retry the daemon missed is launched again, once; a failed run of an
asset removed since is reported once and left alone. The daemon path (a killed `dagster dev`)
is in tests/reliability/test_restart.py."""

from __future__ import annotations

import os
import subprocess
import time

import dagster as dg
import pytest
from dagster._core.events import EngineEventData, JobFailureData, RunFailureReason

from assetbook.graph import orphans
from assetbook.graph.internals import PARENT_RUN_ID_TAG, PARTITION_TAG
from assetbook.graph.orphans import (
    NOT_RELAUNCHED_TAG,
    PID_TAG,
    RELAUNCH_JOB,
    RELAUNCH_OF_TAG,
    RETRY_GRACE_S,
    build_orphaned_runs_sensor,
    fail_orphaned_runs,
    missed_retries,
)
from assetbook.resources.state import StateFolder

RAW = dg.AssetKey("raw_applications")
JOBS = {RELAUNCH_JOB: {RAW}}


@dg.asset(key=RAW, partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01"))
def raw_applications() -> None:
    """The one asset the runs below target that the definitions still hold."""


def definitions(sensor: dg.SensorDefinition) -> dg.Definitions:
    return dg.Definitions(assets=[raw_applications], sensors=[sensor])


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def in_progress(instance: dg.DagsterInstance, status: dg.DagsterRunStatus,
                tags: dict[str, str] | None = None, worker_pid: int | None = None,
                asset: dg.AssetKey = RAW) -> str:
    """A run of one day of `asset` as the instance records it; `worker_pid`: the run
    worker's start event."""
    run = instance.add_run(dg.DagsterRun(
        job_name="__ASSET_JOB", status=status, tags={PARTITION_TAG: "2024-01-02",
                                                     **(tags or {})},
        asset_selection=frozenset({asset})))
    if worker_pid is not None:
        instance.report_engine_event(f"Started process for run (pid: {worker_pid}).", run,
                                     EngineEventData.in_process(worker_pid))
    return run.run_id


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def test_runs_whose_process_is_gone_are_failed_as_a_dead_worker(
        instance: dg.DagsterInstance) -> None:
    started = dg.DagsterRunStatus.STARTED
    killed_worker = in_progress(instance, started, worker_pid=dead_pid())
    killed_cli = in_progress(instance, started, tags={PID_TAG: str(dead_pid())})
    living_worker = in_progress(instance, started, worker_pid=os.getpid())
    living_cli = in_progress(instance, started, tags={PID_TAG: str(os.getpid())})
    starting = in_progress(instance, dg.DagsterRunStatus.STARTING)

    assert sorted(fail_orphaned_runs(instance)) == sorted([killed_worker, killed_cli])
    assert {run_id: status(instance, run_id) for run_id in
            (killed_worker, killed_cli, living_worker, living_cli, starting)} == {
        killed_worker: dg.DagsterRunStatus.FAILURE, killed_cli: dg.DagsterRunStatus.FAILURE,
        living_worker: started, living_cli: started, starting: dg.DagsterRunStatus.STARTING}
    # failed as a dead worker, not as a failed step: the run retries of dagster.yaml apply
    (failure,) = instance.all_logs(killed_worker, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert failure.dagster_event.job_failure_data.failure_reason == (
        RunFailureReason.RUN_WORKER_RESTART)
    assert "is gone" in failure.dagster_event.message
    assert fail_orphaned_runs(instance) == []


def test_a_run_whose_launch_was_cut_off_is_failed_once_its_server_started_again(
        instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> None:
    """Still starting, with no process, since before the code server that launches the runs
    started: the server that was starting it was stopped, and no process will come."""
    cut_off = in_progress(instance, dg.DagsterRunStatus.STARTING)
    assert fail_orphaned_runs(instance, time.time() - 60) == []  # this server is starting it
    assert fail_orphaned_runs(instance, time.time() + 60) == []  # seconds ago: it may yet
    monkeypatch.setattr(orphans, "LAUNCH_GRACE_S", 0)
    time.sleep(1.1)  # past the run's timestamp, whatever its storage rounds it to
    assert fail_orphaned_runs(instance, time.time() + 60) == [cut_off]
    (failure,) = instance.all_logs(cut_off, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert failure.dagster_event.job_failure_data.failure_reason == (
        RunFailureReason.RUN_WORKER_RESTART)  # so the run retries of dagster.yaml apply
    assert "never got a process" in failure.dagster_event.message
    assert fail_orphaned_runs(instance, time.time() + 60) == []


def test_a_retry_the_daemon_missed_is_launched_again_once(state: StateFolder) -> None:
    instance = dg.DagsterInstance.from_config(str(state.prepare_dagster_home()))  # run retries
    orphan = in_progress(instance, dg.DagsterRunStatus.STARTED, worker_pid=dead_pid())
    fail_orphaned_runs(instance)  # Dagster tags it as a run it will retry
    retried = in_progress(instance, dg.DagsterRunStatus.STARTED, worker_pid=dead_pid())
    fail_orphaned_runs(instance)
    instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", tags={PARENT_RUN_ID_TAG: retried}))
    in_progress(instance, dg.DagsterRunStatus.STARTED, worker_pid=dead_pid(),
                tags={PARTITION_TAG: "2024-01-03"})
    fail_orphaned_runs(instance)
    instance.report_runless_asset_event(  # `assetbook run` redid that day's work meanwhile
        dg.AssetMaterialization("raw_applications", partition="2024-01-03"))
    step_failure = in_progress(instance, dg.DagsterRunStatus.STARTED)
    instance.report_run_failed(instance.get_run_by_id(step_failure), "a check failed",
                               JobFailureData(None, RunFailureReason.STEP_FAILURE))

    assert missed_retries(instance, time.time(), JOBS).requests == []  # the grace time
    later = missed_retries(instance, time.time() + RETRY_GRACE_S + 1, JOBS)
    (request,) = later.requests  # not 2024-01-03
    assert request.run_key == f"relaunch-{orphan}"
    assert (request.job_name, request.asset_selection) == (RELAUNCH_JOB, [RAW])
    assert request.partition_key == "2024-01-02"
    assert request.tags[RELAUNCH_OF_TAG] == orphan


def test_the_sensor_is_on_by_default_and_fails_a_dead_run_in_a_tick(
    instance: dg.DagsterInstance,
) -> None:
    """One tick, called here; the daemon ticking it for real is test_restart's kill case."""
    sensor = build_orphaned_runs_sensor([[RAW.path[-1]]])
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    run_id = in_progress(instance, dg.DagsterRunStatus.STARTED, worker_pid=dead_pid())
    result = sensor(dg.build_sensor_context(instance=instance, definitions=definitions(sensor)))
    assert not result.run_requests and run_id in (result.skip_reason.skip_message or "")
    assert status(instance, run_id) == dg.DagsterRunStatus.FAILURE


def test_a_failed_run_of_a_removed_asset_is_reported_once_and_not_relaunched(
        state: StateFolder, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    """Under `dagster dev` a run of `edge_hang`, interrupted, then removed from the specs, made
    every tick fail with KeyError: AssetKey(['edge_hang']) (Dagster resolving the relaunch)."""
    instance = dg.DagsterInstance.from_config(str(state.prepare_dagster_home()))  # run retries
    removed = in_progress(instance, dg.DagsterRunStatus.STARTED, worker_pid=dead_pid(),
                          asset=dg.AssetKey("edge_hang"))
    kept = in_progress(instance, dg.DagsterRunStatus.STARTED, worker_pid=dead_pid())
    fail_orphaned_runs(instance)  # both failed, as runs Dagster will retry
    monkeypatch.setattr(orphans, "RETRY_GRACE_S", 0)  # and the daemon missed both retries
    sensor = build_orphaned_runs_sensor([[RAW.path[-1]]])
    context = dg.build_sensor_context(instance=instance, definitions=definitions(sensor))

    first = sensor.evaluate_tick(context)  # as the daemon evaluates it
    assert [r.tags[RELAUNCH_OF_TAG] for r in first.run_requests] == [kept]
    run = instance.get_run_by_id(removed)
    assert run is not None and "edge_hang" in run.tags[NOT_RELAUNCHED_TAG]
    (warning,) = [line for line in capfd.readouterr().err.splitlines() if removed in line]
    assert "WARNING" in warning and "edge_hang are no longer defined" in warning

    second = sensor.evaluate_tick(context)
    assert [r.tags[RELAUNCH_OF_TAG] for r in second.run_requests] == [kept]
    assert removed not in capfd.readouterr().err  # reported once
