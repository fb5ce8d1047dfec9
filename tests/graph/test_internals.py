"""Each name and wrapper of assetbook/graph/internals.py against a real Dagster instance and real
definitions: a Dagster upgrade that changes what one of them relies on fails here, and the
message names which one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dagster as dg
import pytest

from assetbook.graph.internals import (
    AUTO_RETRY_RUN_ID_TAG,
    CODE_VERSION_TAG,
    PARENT_RUN_ID_TAG,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    WILL_RETRY_TAG,
    GraphState,
    _PartitionRecords,
    _reason,
    report_worker_died,
)

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-04")
HOUR = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=1))


def expect(wrapper: str, actual: Any, wanted: Any) -> None:
    assert actual == wanted, (
        f"assetbook.graph.internals.{wrapper}: got {actual!r}, expected {wanted!r}. Dagster "
        f"{dg.__version__} changed what it relies on: adapt assetbook/graph/internals.py")


def graph(version: str) -> list[dg.AssetsDefinition]:
    """upstream -> downstream (fresh within the hour), a daily asset, one never materialized;
    `version`: upstream's and the daily asset's code version."""

    @dg.asset(code_version=version)
    def upstream() -> int:
        return 1

    @dg.asset(code_version="1", freshness_policy=HOUR)
    def downstream(upstream: int) -> int:
        return upstream

    @dg.asset(code_version=version, partitions_def=DAILY)
    def daily() -> None:
        """Nothing to store: the tags and statuses are what is checked."""

    @dg.asset(freshness_policy=HOUR)
    def never() -> None:
        """Never materialized."""

    return [upstream, downstream, daily, never]


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A temporary instance that retries runs, as the project's dagster.yaml configures it."""
    with dg.instance_for_test(overrides={"run_retries": {"enabled": True, "max_retries": 2}}
                              ) as test_instance:
        yield test_instance


def materialize(instance: dg.DagsterInstance, version: str, *selection: str,
                **kwargs: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize(graph(version), instance=instance, selection=list(selection), **kwargs)


def test_partition_tag_names_the_partition_of_a_run(instance: dg.DagsterInstance) -> None:
    run = materialize(instance, "1", "daily", partition_key="2024-01-02").dagster_run
    expect("PARTITION_TAG", run.tags.get(PARTITION_TAG), "2024-01-02")


def test_range_tags_make_one_run_of_every_partition_between(
        instance: dg.DagsterInstance) -> None:
    materialize(instance, "1", "daily",
                tags={RANGE_START_TAG: "2024-01-01", RANGE_END_TAG: "2024-01-03"})
    expect("RANGE_START_TAG/RANGE_END_TAG",
           instance.get_materialized_partitions(dg.AssetKey("daily")),
           {"2024-01-01", "2024-01-02", "2024-01-03"})


def test_code_version_tag_holds_the_code_version_of_a_materialization(
        instance: dg.DagsterInstance) -> None:
    materialize(instance, "7", "upstream")
    event = instance.get_latest_materialization_event(dg.AssetKey("upstream"))
    assert event is not None and event.asset_materialization is not None
    expect("CODE_VERSION_TAG", event.asset_materialization.tags.get(CODE_VERSION_TAG), "7")


def test_a_run_reported_as_a_dead_worker_is_one_dagster_retries(
        instance: dg.DagsterInstance) -> None:
    run = instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB",
                                         status=dg.DagsterRunStatus.STARTED))
    report_worker_died(instance, run, "its process is gone")
    failed = instance.get_run_by_id(run.run_id)
    assert failed is not None
    expect("report_worker_died (status)", failed.status, dg.DagsterRunStatus.FAILURE)
    (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    expect("report_worker_died (failure reason)",
           failure.dagster_event.job_failure_data.failure_reason.value, "RUN_WORKER_RESTART")
    expect("WILL_RETRY_TAG", failed.tags.get(WILL_RETRY_TAG), "true")
    expect("WILL_RETRY_TAG (waiting to retry)", failed.is_complete_and_waiting_to_retry, True)
    instance.add_run_tags(run.run_id, {AUTO_RETRY_RUN_ID_TAG: "the-retry"})
    retried = instance.get_run_by_id(run.run_id)
    assert retried is not None
    expect("AUTO_RETRY_RUN_ID_TAG (retry launched)", retried.is_complete_and_waiting_to_retry,
           False)


def test_parent_run_id_tag_is_the_one_dagster_reads_as_a_runs_parent(
        instance: dg.DagsterInstance) -> None:
    """Dagster's retries write it (create_reexecuted_run, which needs a code server: the daemon
    path is in tests/reliability/test_restart.py); its own reading of it is checked here."""
    parent = instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB"))
    child = instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB",
                                           tags={PARENT_RUN_ID_TAG: parent.run_id}))
    expect("PARENT_RUN_ID_TAG", child.get_parent_run_id(), parent.run_id)
    children = instance.get_run_records(dg.RunsFilter(tags={PARENT_RUN_ID_TAG: parent.run_id}))
    expect("PARENT_RUN_ID_TAG (as a filter)", [r.dagster_run.run_id for r in children],
           [child.run_id])


def test_graph_state_reports_missing_fresh_and_stale_with_causes(
        instance: dg.DagsterInstance) -> None:
    key = dg.AssetKey
    assert materialize(instance, "1", "upstream", "downstream").success
    assert materialize(instance, "1", "daily", partition_key="2024-01-02").success
    now = GraphState(instance, dg.Definitions(assets=graph("1")))
    expect("GraphState.stale_state", [now.stale_state(key(n)) for n in ("upstream", "never")],
           ["fresh", "missing"])
    expect("GraphState.stale_state (partition)", now.stale_state(key("daily"), "2024-01-02"),
           "fresh")
    expect("GraphState.freshness",
           now.freshness([key("upstream"), key("downstream"), key("never")]),
           {key("upstream"): None, key("downstream"): "PASS", key("never"): "UNKNOWN"})

    changed = GraphState(instance, dg.Definitions(assets=graph("2")))  # a new code version
    expect("GraphState.stale_state", changed.stale_state(key("upstream")), "stale")
    expect("GraphState.stale_causes", changed.stale_causes(key("upstream")),
           ("has a new code version",))
    expect("GraphState.stale_state (partition)",
           changed.stale_state(key("daily"), "2024-01-02"), "stale")

    assert materialize(instance, "2", "upstream").success
    redone = GraphState(instance, dg.Definitions(assets=graph("2")))
    expect("GraphState.stale_state", redone.stale_state(key("downstream")), "stale")
    causes = redone.stale_causes(key("downstream"))
    expect("GraphState.stale_causes (names the dependency)",
           bool(causes) and all(c.endswith(" (upstream)") for c in causes), True)


def failing_pair(fails: bool) -> list[dg.AssetsDefinition]:
    """first -> second; first raises if `fails`."""

    @dg.asset
    def first() -> int:
        if fails:
            raise ValueError("a bad first")
        return 1

    @dg.asset
    def second(first: int) -> int:
        return first

    return [first, second]


def test_graph_state_says_which_unpartitioned_asset_failed_in_its_latest_run(
        instance: dg.DagsterInstance) -> None:
    key = dg.AssetKey
    assert dg.materialize(failing_pair(False), instance=instance).success
    assert not dg.materialize(failing_pair(True), instance=instance,
                              raise_on_error=False).success
    broken = GraphState(instance, dg.Definitions(assets=failing_pair(True)))
    expect("GraphState.failed_last (its step failed)", broken.failed_last(key("first")), True)
    expect("GraphState.failed_last (stopped by a failure above)",
           broken.failed_last(key("second")), False)
    assert dg.materialize(failing_pair(False), instance=instance).success
    mended = GraphState(instance, dg.Definitions(assets=failing_pair(False)))
    expect("GraphState.failed_last (materialized since)", mended.failed_last(key("first")),
           False)


def daily_chain() -> list[dg.AssetsDefinition]:
    """raw (its data version from the run's `data` tag) -> features (same day) -> window (each
    day and the day before) -> model (every day), all daily but the model."""

    @dg.asset(code_version="1", partitions_def=DAILY)
    def raw(context) -> dg.MaterializeResult:  # unannotated: Dagster reads no string annotation
        return dg.MaterializeResult(data_version=dg.DataVersion(context.run.tags.get("data",
                                                                                     "a")))

    @dg.asset(code_version="1", partitions_def=DAILY, deps=[raw])
    def features() -> None:
        """Nothing stored: its provenance is what is checked."""

    @dg.asset(code_version="1", partitions_def=DAILY, deps=[dg.AssetDep(
        features, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1))])
    def window() -> None:
        """Reads its day and the day before."""

    @dg.asset(code_version="1", deps=[window])
    def model() -> None:
        """Reads every day."""

    return [raw, features, window, model]


def test_graph_state_judges_every_partition_as_dagsters_own_resolver_does(
        instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> None:
    """GraphState reads each asset's materializations once instead of once per partition; its
    verdicts and causes stay those of Dagster's resolver querying the instance for each."""
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
    from dagster._core.definitions.data_version import CachingStaleStatusResolver

    monkeypatch.setattr(_PartitionRecords, "_PAGE", 2)  # an asset's records read in pages
    defs = dg.Definitions(assets=daily_chain())
    days = DAILY.get_partition_keys()

    def run(*selection: str, day: str | None = None, data: str = "a") -> None:
        assert dg.materialize(daily_chain(), instance=instance, selection=list(selection),
                              partition_key=day, tags={"data": data}).success

    def agree() -> set[str]:
        state = GraphState(instance, defs)
        view = AssetGraphView.for_test(defs, instance)
        dagster = CachingStaleStatusResolver(instance, view.asset_graph, view)
        seen = set()
        for name, partitions in [("raw", days), ("features", days), ("window", days),
                                 ("model", [None])]:
            for day in partitions:
                key = dg.AssetKey(name)
                verdict = dagster.get_status(key, day).value.lower()
                expect("GraphState.stale_state (preloaded records)",
                       (name, day, state.stale_state(key, day)), (name, day, verdict))
                expect("GraphState.stale_causes (preloaded records)",
                       (name, day, state.stale_causes(key, day)),
                       (name, day, tuple(_reason(cause)
                                         for cause in dagster.get_stale_causes(key, day))))
                seen.add(verdict)
        return seen

    for day in days[:2]:
        run("raw", "features", "window", day=day)
    run("model")
    assert agree() == {"fresh", "missing"}  # the last day never ran
    run("raw", day=days[0])  # the same data again: nothing below is stale
    run("raw", day=days[1], data="b")  # new data: its features, then the window over it
    run("features", day=days[1])
    assert agree() == {"fresh", "stale", "missing"}
