"""Runs whose process was killed are failed (and so retried); runs whose process lives, and
runs not yet started, are left alone; a failed run whose retry the daemon missed is launched
again, once. The daemon path (a killed `dagster dev`) is in tests/reliability/test_restart.py."""

from __future__ import annotations

import os
import subprocess
import time

import dagster as dg
from dagster._core.events import EngineEventData, JobFailureData, RunFailureReason

from assetbook.graph.orphans import (
    PID_TAG,
    RELAUNCH_OF_TAG,
    RETRY_GRACE_S,
    build_orphaned_runs_sensor,
    fail_orphaned_runs,
    missed_retries,
)
from assetbook.resources.state import StateFolder


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def in_progress(instance: dg.DagsterInstance, status: dg.DagsterRunStatus,
                tags: dict[str, str] | None = None, worker_pid: int | None = None) -> str:
    """A run of one day's raw data as the instance records it; `worker_pid`: the run
    worker's start event."""
    run = instance.add_run(dg.DagsterRun(
        job_name="__ASSET_JOB", status=status, tags={"dagster/partition": "2024-01-02",
                                                     **(tags or {})},
        asset_selection=frozenset({dg.AssetKey("raw_applications")})))
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


def test_a_retry_the_daemon_missed_is_launched_again_once(state: StateFolder) -> None:
    instance = dg.DagsterInstance.from_config(str(state.prepare_dagster_home()))  # run retries
    orphan = in_progress(instance, dg.DagsterRunStatus.STARTED, worker_pid=dead_pid())
    fail_orphaned_runs(instance)  # Dagster tags it as a run it will retry
    retried = in_progress(instance, dg.DagsterRunStatus.STARTED, worker_pid=dead_pid())
    fail_orphaned_runs(instance)
    instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", tags={"dagster/parent_run_id":
                                                                 retried}))
    in_progress(instance, dg.DagsterRunStatus.STARTED, worker_pid=dead_pid(),
                tags={"dagster/partition": "2024-01-03"})
    fail_orphaned_runs(instance)
    instance.report_runless_asset_event(  # `assetbook run` redid that day's work meanwhile
        dg.AssetMaterialization("raw_applications", partition="2024-01-03"))
    step_failure = in_progress(instance, dg.DagsterRunStatus.STARTED)
    instance.report_run_failed(instance.get_run_by_id(step_failure), "a check failed",
                               JobFailureData(None, RunFailureReason.STEP_FAILURE))

    assert missed_retries(instance, time.time()) == []  # the daemon has its grace time
    (request,) = missed_retries(instance, time.time() + RETRY_GRACE_S + 1)  # not 2024-01-03
    assert request.run_key == f"relaunch-{orphan}"
    assert request.asset_selection == [dg.AssetKey("raw_applications")]
    assert request.partition_key == "2024-01-02"
    assert request.tags[RELAUNCH_OF_TAG] == orphan


def test_the_sensor_sweeps_while_the_daemon_runs(instance: dg.DagsterInstance) -> None:
    sensor = build_orphaned_runs_sensor()
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    run_id = in_progress(instance, dg.DagsterRunStatus.STARTED, worker_pid=dead_pid())
    result = sensor(dg.build_sensor_context(instance=instance))
    assert not result.run_requests and run_id in (result.skip_reason.skip_message or "")
    assert status(instance, run_id) == dg.DagsterRunStatus.FAILURE
