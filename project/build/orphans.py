"""Runs whose process is gone: failed, so that they are retried instead of blocking forever.

Dagster's default run launcher cannot check a run worker's health. When the process of a run
dies with it (`kill -9` of `dagster dev`, of `assetbook run`, or of the run worker), the run
stays STARTED for good, and automation, which sees its assets as in progress, never requests
them again. The run's process is known: `assetbook run` tags its runs with its pid, and a run
worker records its pid in the run's "Started process for run" engine event. A run whose
process no longer exists is marked failed as its worker having died, which the run retries
configured in dagster.yaml launch again.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster._core.events import JobFailureData, RunFailureReason
from dagster._core.launcher import DefaultRunLauncher

PID_TAG = "assetbook/pid"
SWEEP_INTERVAL_S = 30


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the in-progress runs whose process is gone; their ids."""
    failed = []
    records = instance.get_run_records(dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]))
    for record in records:
        run = record.dagster_run
        pid = run_pid(instance, run)
        if pid is not None and not _process_alive(pid):
            instance.report_run_failed(
                run, f"the run's process (pid {pid}) is gone: it was killed with its worker",
                JobFailureData(error=None, failure_reason=RunFailureReason.RUN_WORKER_RESTART))
            failed.append(run.run_id)
    return failed


def run_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The process that executes the run, if it has told: None while it is starting."""
    if PID_TAG in run.tags:
        return int(run.tags[PID_TAG])
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = event.engine_event_data if event else None
        if data and "pid" in data.metadata and "Started process for run" in (
                event.message or ""):
            return int(str(data.metadata["pid"].value))
    return None


def build_orphaned_runs_sensor() -> dg.SensorDefinition:
    """The sweep, every SWEEP_INTERVAL_S while the daemon runs. Pids name processes of this
    machine only: under a run launcher that runs workers elsewhere it does nothing."""

    @dg.sensor(name="orphaned_runs", minimum_interval_seconds=SWEEP_INTERVAL_S,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Fails runs whose process was killed, so that they are retried.")
    def orphaned_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        if not isinstance(context.instance.run_launcher, DefaultRunLauncher):
            return dg.SkipReason("run workers are not local processes: nothing to check")
        failed = fail_orphaned_runs(context.instance)
        return dg.SkipReason(f"failed {len(failed)} runs whose process is gone: {failed}"
                             if failed else "every in-progress run has its process")

    return orphaned_runs


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
