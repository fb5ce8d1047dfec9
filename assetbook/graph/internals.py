"""Everything Assetbook takes from Dagster's private API (`dagster._core`), in one module.

Dagster 1.13 does not export the stale status and causes its UI shows, the freshness state of
a policy now, the failure reason that makes run retries apply, the names of the tags it
writes on runs and materializations, nor a way to follow freshness changes other than a
deprecated one. Assetbook needs all of them; the rest of the code uses
`dagster` alone, so an upgrade that moves one breaks here, and tests/graph/test_internals.py
names which one.
"""

from __future__ import annotations

import asyncio
import copy
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
from dagster._core.definitions import data_version
from dagster._core.definitions.freshness_evaluator import FRESHNESS_EVALUATORS_BY_POLICY_TYPE
from dagster._core.definitions.temporal_context import TemporalContext
from dagster._core.event_api import EventLogCursor, EventRecordsResult
from dagster._core.events import JobFailureData, RunFailureReason
from dagster._core.storage import tags
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._utils.schedules import reverse_cron_string_iterator

# Run tags: the partition of a run, or the first and last key of a run over a range.
PARTITION_TAG: str = tags.PARTITION_NAME_TAG
RANGE_START_TAG: str = tags.ASSET_PARTITION_RANGE_START_TAG
RANGE_END_TAG: str = tags.ASSET_PARTITION_RANGE_END_TAG
# Run tags of retries: Dagster will retry this failed run; the retry it launched; the run that
# a re-execution repeats.
WILL_RETRY_TAG: str = tags.WILL_RETRY_TAG
AUTO_RETRY_RUN_ID_TAG: str = tags.AUTO_RETRY_RUN_ID_TAG
PARENT_RUN_ID_TAG: str = tags.PARENT_RUN_ID_TAG
# Materialization tag: the code version of the asset that wrote it.
CODE_VERSION_TAG: str = data_version.CODE_VERSION_TAG

StaleState = Literal["fresh", "stale", "missing"]
Freshness = Literal["PASS", "WARN", "FAIL", "UNKNOWN"]

_STALE_STATE: dict[data_version.StaleStatus, StaleState] = {
    data_version.StaleStatus.FRESH: "fresh", data_version.StaleStatus.STALE: "stale",
    data_version.StaleStatus.MISSING: "missing"}


def report_worker_died(instance: dg.DagsterInstance, run: dg.DagsterRun, message: str) -> None:
    """Fail `run` as one whose worker died, not as one whose step failed: only then do the run
    retries configured in dagster.yaml launch it again."""
    instance.report_run_failed(run, message, JobFailureData(
        error=None, failure_reason=RunFailureReason.RUN_WORKER_RESTART))


class GraphState:
    """Staleness and freshness of a project's assets at one moment, computed as Dagster's UI
    and freshness daemon compute them."""

    def __init__(self, instance: dg.DagsterInstance, defs: dg.Definitions,
                 now: datetime | None = None) -> None:
        self._view = AssetGraphView(
            temporal_context=TemporalContext(effective_dt=now or datetime.now(UTC),
                                             last_event_id=None),
            instance=instance, asset_graph=defs.resolve_asset_graph())
        self._resolver = data_version.CachingStaleStatusResolver(
            _PartitionRecords.read_by(instance), self._view.asset_graph, self._view)
        self._instance = instance

    def failed(self, key: dg.AssetKey, partitions: Sequence[str]) -> set[str]:
        """The partitions whose latest run failed, whether or not an earlier one succeeded."""
        partitions_def = self._view.asset_graph.get(key).partitions_def
        by_key = self._instance.get_status_by_partition(key, list(partitions),
                                                        partitions_def) or {}
        return {k for k, status in by_key.items() if status == dg.AssetPartitionStatus.FAILED}

    def failed_last(self, key: dg.AssetKey) -> bool:
        """An unpartitioned asset whose own step failed in the latest run that planned it (the
        asset may hold an older value). What a failure above it stopped, it did not fail."""
        planned = self._instance.get_latest_planned_materialization_info(key)
        if planned is None:
            return False
        run = self._instance.get_run_by_id(planned.run_id)
        if run is None or run.status != dg.DagsterRunStatus.FAILURE:
            return False
        events = [e.dagster_event for e in self._instance.all_logs(planned.run_id, of_type={
            dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.STEP_FAILURE,
            dg.DagsterEventType.ASSET_MATERIALIZATION})]
        mine = {e.step_key for e in events if e and e.asset_key == key
                and e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED}
        made = any(e and e.asset_key == key and e.is_step_materialization for e in events)
        return not made and any(e and e.is_step_failure and e.step_key in mine for e in events)

    def materialized_at(self, key: dg.AssetKey) -> float | None:
        """The timestamp of the asset's latest materialization; None if it has none."""
        latest = self._instance.get_latest_materialization_event(key)
        return latest.timestamp if latest else None

    def code_changed(self, key: dg.AssetKey) -> bool:
        """The asset's code version is not the one its latest materialization was made by."""
        latest = self._instance.get_latest_materialization_event(key)
        made = latest.asset_materialization if latest else None
        return made is not None and made.tags.get(CODE_VERSION_TAG) != \
            self._view.asset_graph.get(key).code_version

    def check_failed_since(self, key: dg.AssetKey, timestamp: float) -> bool:
        """A check of `key` evaluated as failed (either severity) after `timestamp`."""
        storage = self._instance.event_log_storage
        for check in self._view.asset_graph.get(key).check_keys:
            newest = storage.get_asset_check_execution_history(
                check, limit=1, status={AssetCheckExecutionRecordStatus.FAILED})
            # the record's own timestamp is whole seconds in SQLite; its event's is not
            if newest and newest[0].event and newest[0].event.timestamp > timestamp:
                return True
        return False

    def stale_state(self, key: dg.AssetKey, partition: str | None = None) -> StaleState:
        return _STALE_STATE[self._resolver.get_status(key, partition)]

    def stale_causes(self, key: dg.AssetKey, partition: str | None = None) -> tuple[str, ...]:
        """One line per cause, in Dagster's words: "has a new code version", "has a new
        dependency materialization (features)"."""
        return tuple(_reason(cause) for cause in self._resolver.get_stale_causes(key, partition))

    def freshness(self, keys: Sequence[dg.AssetKey]) -> dict[dg.AssetKey, Freshness | None]:
        """Each asset's freshness policy evaluated now with the daemon's own evaluators (the
        instance holds only what the daemon last wrote, under `assetbook dev`): PASS, WARN past
        `warn_after`, FAIL past `fail_after`, UNKNOWN if never materialized; None without a
        policy."""

        async def evaluate(key: dg.AssetKey) -> Freshness | None:
            node = self._view.asset_graph.get(key)
            policy = node.freshness_policy
            if policy is None:
                return None
            evaluator = FRESHNESS_EVALUATORS_BY_POLICY_TYPE[type(policy)]()
            return (await evaluator.evaluate_freshness(self._view, node)).value

        async def evaluate_all() -> list[Freshness | None]:
            return await asyncio.gather(*(evaluate(key) for key in keys))

        return dict(zip(keys, asyncio.run(evaluate_all()), strict=True))


def last_cron_tick(cron: str, now: datetime) -> datetime:
    """The latest tick of `cron` (UTC, as Dagster's `on_cron` reads it) at or before `now`."""
    return next(reverse_cron_string_iterator(now.timestamp(), cron, "UTC"))


class _PartitionRecords:
    """The materializations of each partitioned asset the stale-status resolver asks about,
    read in one query on its first ask: the resolver asks for one partition at a time, and for
    each upstream partition twice more, each a query of its own (on SQLite, a new connection
    and a compiled statement each: 1,183 queries, 4.5 s, to plan a run over 91 days). The
    records kept are the instance's at that moment, as the resolver's own caches are."""

    _PAGE = 1000

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self._instance = instance
        self._by_partition: dict[dg.AssetKey, dict[str, list[dg.EventLogRecord]]] = {}

    @classmethod
    def read_by(cls, instance: dg.DagsterInstance) -> dg.DagsterInstance:
        """A copy of `instance` (the same storage) whose `fetch_materializations`, which
        Dagster's own lookups call on it, is this one's."""
        reader = copy.copy(instance)
        reader.fetch_materializations = cls(instance).fetch_materializations  # type: ignore[method-assign]
        return reader

    def fetch_materializations(self, records_filter: dg.AssetKey | dg.AssetRecordsFilter,
                               limit: int, cursor: str | None = None, ascending: bool = False
                               ) -> EventRecordsResult:
        """Answered from the asset's records for a filter on partitions and storage ids (what
        the resolver asks); any other filter is the instance's."""
        if (cursor is not None or not isinstance(records_filter, dg.AssetRecordsFilter)
                or records_filter.asset_partitions is None
                or records_filter.storage_ids is not None
                or records_filter.after_timestamp is not None
                or records_filter.before_timestamp is not None):
            return self._instance.fetch_materializations(records_filter, limit, cursor,
                                                         ascending)
        by_partition = self._records(records_filter.asset_key)
        after, before = records_filter.after_storage_id, records_filter.before_storage_id
        matching = sorted(
            (record for partition in records_filter.asset_partitions
             for record in by_partition.get(partition, ())
             if (after is None or record.storage_id > after)
             and (before is None or record.storage_id < before)),
            key=lambda record: record.storage_id, reverse=not ascending)
        records = matching[:limit]
        last = records[-1].storage_id if records else -1
        return EventRecordsResult(records, EventLogCursor.from_storage_id(last).to_string(),
                                  has_more=len(matching) > limit)

    def _records(self, key: dg.AssetKey) -> dict[str, list[dg.EventLogRecord]]:
        if key not in self._by_partition:
            by_partition: dict[str, list[dg.EventLogRecord]] = defaultdict(list)
            cursor = None
            while True:
                page = self._instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=key), self._PAGE, cursor)
                for record in page.records:
                    if record.partition_key is not None:
                        by_partition[record.partition_key].append(record)
                if not page.has_more:
                    break
                cursor = page.cursor
            self._by_partition[key] = by_partition
        return self._by_partition[key]


@dataclass(frozen=True)
class FreshnessChange:
    storage_id: int  # the cursor to read on after it
    asset: str
    before: Freshness
    now: Freshness
    timestamp: float


def freshness_changes(instance: dg.DagsterInstance, after: int, limit: int
                      ) -> list[FreshnessChange]:
    """The freshness changes the daemon recorded after the storage id `after`, oldest first.
    Dagster 1.13 has no `fetch_` method for them; `get_event_records` is deprecated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        records = instance.get_event_records(dg.EventRecordsFilter(
            event_type=dg.DagsterEventType.FRESHNESS_STATE_CHANGE, after_cursor=after),
            limit=limit, ascending=True)
    changes = []
    for record in records:
        event = record.event_log_entry.dagster_event
        assert event is not None
        data = event.asset_freshness_state_change_data
        changes.append(FreshnessChange(record.storage_id, data.key.to_user_string(),
                                       data.previous_state.value, data.new_state.value,
                                       record.timestamp))
    return changes


def _reason(cause: data_version.StaleCause) -> str:
    dependency = cause.dependency_asset_key
    name = dependency.to_user_string() if dependency else None
    return f"{cause.reason} ({name})" if name and name not in cause.reason else cause.reason
