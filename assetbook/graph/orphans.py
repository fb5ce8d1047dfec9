"""Runs whose process is gone: failed, and launched again, instead of blocking forever.

Dagster's default run launcher cannot check a run worker's health. When the process of a run
dies with it (`kill -9` of `dagster dev`, of `assetbook run`, or of the run worker), the run
stays STARTED for good, and automation, which sees its assets as in progress, never requests
them again. The run's process is known: `assetbook run` tags its runs with its pid, and a run
worker records its pid in the run's "Started process for run" engine event. A run whose
process no longer exists is marked failed as its worker having died, which the run retries
configured in dagster.yaml launch again. A run whose launch was cut off before its process
started has no pid: one still starting since before the code server evaluating this sensor
started (the server launches the runs of its code location) is failed the same way, and
Dagster's run monitoring fails the others after the start timeout set in dagster.yaml.

The retry itself can be missed: the daemon's event consumer may read a failure event before
the run's status has changed (two SQLite files, written one after the other), decide that the
run is not failed, and move on for good. So a failed run that Dagster marked as one it will
retry, that has no retry after RETRY_GRACE_S, and whose assets no later run has materialized
(`assetbook run` may have redone the work since), is launched again by this sensor. A failed
run of an asset since removed from the specs cannot be launched again: it is tagged
NOT_RELAUNCHED_TAG, with a warning in the sensor's log, once, and left alone after.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg
import psutil

from assetbook.graph.internals import (
    AUTO_RETRY_RUN_ID_TAG,
    PARENT_RUN_ID_TAG,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    WILL_RETRY_TAG,
    report_worker_died,
)
from assetbook.graph.landing_chain import LANDING_RUN_TAG
from assetbook.runners.serving.processes import alive

PID_TAG = "assetbook/pid"
RELAUNCH_OF_TAG = "assetbook/relaunch_of"
NOT_RELAUNCHED_TAG = "assetbook/not_relaunched"  # why the sensor leaves a failed run alone
RELAUNCH_JOB = "assetbook_relaunch"
SWEEP_INTERVAL_S = 30
RETRY_GRACE_S = 60  # the daemon retries within seconds; after this it has missed the run
LAUNCH_GRACE_S = 10  # a launch records its run's process within a second of starting it
LOOKBACK = timedelta(days=1)  # failed runs older than this are left to a person


def fail_orphaned_runs(instance: dg.DagsterInstance,
                       launcher_started: float | None = None) -> list[str]:
    """Mark failed the in-progress runs whose process is gone, and the runs still starting,
    with no process, since before `launcher_started` (when the code server that launches
    them started, as a timestamp) and for LAUNCH_GRACE_S: the server that was starting them
    was stopped, and none will; their ids."""
    failed = []
    records = instance.get_run_records(dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]))
    cut_off = min(launcher_started, time.time() - LAUNCH_GRACE_S) if launcher_started else None
    for record in records:
        run = record.dagster_run
        pid = run_pid(instance, run)
        if pid is not None and not alive(pid):
            report_worker_died(
                instance, run, f"the run's process (pid {pid}) is gone: it was killed with its "
                               "worker")
            failed.append(run.run_id)
        elif (pid is None and cut_off is not None and run.status == dg.DagsterRunStatus.STARTING
              and record.update_timestamp.timestamp() < cut_off):
            report_worker_died(instance, run, "the run never got a process: the code server "
                                              "that was starting it was stopped")
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


@dataclass
class Relaunches:
    requests: list[dg.RunRequest] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)  # per run newly left alone: why


def missed_retries(instance: dg.DagsterInstance, now: float,
                   jobs: Mapping[str, Set[dg.AssetKey]]) -> Relaunches:
    """The same assets and partitions again, for each failed run that Dagster will retry and
    has not after RETRY_GRACE_S, by the first of `jobs` (name: assets) that holds its assets.
    The run key makes each relaunch happen once. A run of assets no job holds any more would
    fail every tick of the sensor (Dagster cannot resolve its request): it is tagged as not
    relaunched instead, and reported this once."""
    defined = set().union(*jobs.values())
    records = instance.get_run_records(dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.FAILURE], tags={WILL_RETRY_TAG: "true"},
        updated_after=datetime.fromtimestamp(now, UTC) - LOOKBACK))
    relaunches = Relaunches()
    for record in records:
        run = record.dagster_run
        failed_at = record.update_timestamp.timestamp()
        if (AUTO_RETRY_RUN_ID_TAG in run.tags or NOT_RELAUNCHED_TAG in run.tags
                or run.asset_selection is None or failed_at > now - RETRY_GRACE_S
                or instance.get_run_records(dg.RunsFilter(tags={PARENT_RUN_ID_TAG: run.run_id}),
                                            limit=1)
                or _redone(instance, run, failed_at)):
            continue
        job = next((name for name, keys in jobs.items() if run.asset_selection <= keys), None)
        if job is None:
            removed = sorted(k.to_user_string() for k in run.asset_selection - defined)
            reason = (f"its assets {', '.join(removed)} are no longer defined" if removed else
                      "its assets no longer share one partitions definition")
            instance.add_run_tags(run.run_id, {NOT_RELAUNCHED_TAG: reason})
            relaunches.abandoned.append(
                f"failed run {run.run_id} is not launched again: {reason}; launch what is "
                "left of it by hand if it is still needed")
            continue
        kept = {tag: run.tags[tag] for tag in (RANGE_START_TAG, RANGE_END_TAG, LANDING_RUN_TAG)
                if tag in run.tags}
        relaunches.requests.append(dg.RunRequest(
            run_key=f"relaunch-{run.run_id}", job_name=job,
            asset_selection=list(run.asset_selection),
            partition_key=run.tags.get(PARTITION_TAG),
            tags={**kept, RELAUNCH_OF_TAG: run.run_id}))
    return relaunches


def _redone(instance: dg.DagsterInstance, run: dg.DagsterRun, since: float) -> bool:
    """Every asset of the run (of its partition, if it has one) materialized since."""
    partition = run.tags.get(PARTITION_TAG)
    return all(instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=key, asset_partitions=[partition] if partition else None,
        after_timestamp=since), limit=1).records for key in run.asset_selection or ())


def build_orphaned_runs_sensor(groups: Sequence[Sequence[str]]) -> dg.SensorDefinition:
    """The sweep, every SWEEP_INTERVAL_S while the daemon runs. Pids name processes of this
    machine only: under a run launcher that runs workers elsewhere it only relaunches.
    `groups`: the assets of each partitions definition, with the unpartitioned ones (one job
    cannot hold assets of two partitions definitions, daily and monthly, say)."""
    selections = {(f"{RELAUNCH_JOB}_{i}" if i else RELAUNCH_JOB): frozenset(
        dg.AssetKey(name) for name in group) for i, group in enumerate(groups) if group}
    jobs = [dg.define_asset_job(name, selection=dg.AssetSelection.assets(*keys),
                                description="Failed runs whose retry was missed, again.")
            for name, keys in selections.items()]

    @dg.sensor(name="orphaned_runs", minimum_interval_seconds=SWEEP_INTERVAL_S, jobs=jobs or None,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Fails runs whose process was killed or whose launch was cut off, "
                           "and launches again failed runs whose retry was missed.")
    def orphaned_runs(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        failed = (fail_orphaned_runs(context.instance, psutil.Process().create_time())
                  if isinstance(context.instance.run_launcher, dg.DefaultRunLauncher) else [])
        relaunches = missed_retries(context.instance, time.time(), selections)
        for message in relaunches.abandoned:
            context.log.warning(message)
        done = [f"failed {len(failed)} runs whose process is gone: {failed}"] if failed else []
        done += relaunches.abandoned
        return dg.SensorResult(
            run_requests=relaunches.requests,
            skip_reason=None if relaunches.requests else "; ".join(done) or (
                "every in-progress run has its process, every failed run its retry"))

    return orphaned_runs
