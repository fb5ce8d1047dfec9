"""The alerts sensor: one webhook message per failed check (a refused candidate's gate, a
drift, a schema), per failed run, and per asset whose freshness turns FAIL.

It follows Dagster's event log with a cursor: finished runs (whose failed checks and failed
steps it reads) and freshness changes, so each event is sent once. The cursor moves past an
event only once the webhook took its messages; a webhook that is down gets them on a later
tick. Its first tick starts from the newest events: history is not sent. A run that failed
only because a blocking check failed is not sent again as a failed run: the check's message
says why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg

from assetbook.graph.internals import (
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    FreshnessChange,
    freshness_changes,
)
from assetbook.monitoring.webhook import Alert, WebhookError, send

ALERTS_SENSOR = "assetbook_alerts"
FINISHED = (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE)
FRESHNESS = "freshness"
PAGE = 100  # events read per stream and tick
CHECK_FAILED_ERROR = "DagsterAssetCheckFailedError"  # a step failed for a blocking check


def build_alerts_sensor(project: str, webhook: str) -> dg.SensorDefinition:
    @dg.sensor(name=ALERTS_SENSOR, default_status=dg.DefaultSensorStatus.RUNNING,
               minimum_interval_seconds=10,
               description="Sends one message to the profile's webhook per failed check, "
                           "failed run and freshness FAIL.")
    def alerts(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        instance = context.instance
        if context.cursor is None:
            context.update_cursor(json.dumps(newest(instance)))
            return dg.SkipReason("watching the events from now on")
        cursors = json.loads(context.cursor)
        sent = 0
        for stream, cursor, found in _pending(instance, project, cursors):
            try:
                for alert in found:
                    send(webhook, alert)
                    sent += 1
            except WebhookError as exc:  # the cursor stays: sent again on a later tick
                return dg.SkipReason(f"{sent} alert(s) sent; then {exc}")
            cursors[stream] = cursor
            context.update_cursor(json.dumps(cursors))
        return dg.SkipReason(f"{sent} alert(s) sent")

    return alerts


def newest(instance: dg.DagsterInstance) -> dict[str, str | int | None]:
    """Cursors at the newest event of each stream."""
    cursors: dict[str, str | int | None] = {
        kind.value: instance.fetch_run_status_changes(kind, limit=1).cursor for kind in FINISHED}
    after = 0
    while changes := freshness_changes(instance, after, PAGE):
        after = changes[-1].storage_id
    cursors[FRESHNESS] = after
    return cursors


def _pending(instance: dg.DagsterInstance, project: str, cursors: dict
             ) -> Iterator[tuple[str, str | int, list[Alert]]]:
    """Each event after the cursors, oldest first per stream: (stream, its cursor after the
    event, the alerts it makes, often none)."""
    for kind in FINISHED:
        cursor = cursors[kind.value]
        for _ in range(PAGE):  # one at a time: each record's cursor is the page's
            page = instance.fetch_run_status_changes(kind, limit=1, cursor=cursor,
                                                     ascending=True)
            if not page.records:
                break
            cursor = page.cursor
            yield kind.value, cursor, run_alerts(instance, project, page.records[0])
    for change in freshness_changes(instance, cursors[FRESHNESS], PAGE):
        yield FRESHNESS, change.storage_id, freshness_alerts(project, change)


def run_alerts(instance: dg.DagsterInstance, project: str, finished: dg.EventLogRecord
               ) -> list[Alert]:
    """A finished run's failed checks, and its failure unless only checks failed."""
    run = instance.get_run_by_id(finished.run_id)
    if run is None:  # deleted since
        return []
    partition = _partition(run)
    at = _time(finished.timestamp)
    records = instance.get_records_for_run(finished.run_id, of_type={
        dg.DagsterEventType.ASSET_CHECK_EVALUATION, dg.DagsterEventType.STEP_FAILURE}).records
    found = []
    failed_steps = []
    for record in records:
        event = record.event_log_entry.dagster_event
        assert event is not None
        data = event.event_specific_data
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION and not data.passed:
            found.append(Alert("check_failed", project, data.asset_key.to_user_string(),
                               partition, f"{data.check_name}: "
                               f"{data.description or 'did not pass'}", run.run_id, at))
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE and \
                data.error.cls_name != CHECK_FAILED_ERROR:
            failed_steps.append((event.step_key, data.error.cause or data.error))
    if failed_steps:  # the step is named after its asset (a notebook's step, its outputs')
        step, error = failed_steps[0]
        more = f" (and {len(failed_steps) - 1} more failed step(s))" if failed_steps[1:] else ""
        found.append(Alert("run_failed", project, step, partition,
                           f"{error.message.strip()}{more}", run.run_id, at))
    return found


def freshness_alerts(project: str, change: FreshnessChange) -> list[Alert]:
    if change.now != "FAIL":
        return []
    return [Alert("freshness_failed", project, change.asset, None,
                  f"older than its freshness policy allows (was {change.before})", None,
                  _time(change.timestamp))]


def _time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _partition(run: dg.DagsterRun) -> str | None:
    """The partition (or `first..last` of a range) the run computed."""
    first, last = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
    if first is not None:
        return first if last in (None, first) else f"{first}..{last}"
    return run.tags.get(PARTITION_TAG)
