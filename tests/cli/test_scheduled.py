"""A scheduled asset (a weekly search) waits while only new data makes it stale, on a real
Dagster instance: its cron ticking, a check it names failing, or its own code changing make it
due, as they make `assetbook dev`'s automation request it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from assetbook.cli.scheduled import due_after_checks, waiting
from assetbook.graph.internals import GraphState
from assetbook.spec.models import CronAutomationSpec, ManualAutomationSpec

WEEKLY = CronAutomationSpec(type="on_cron", cron="0 3 * * 1", on_failed_checks=("day",))
DRIFTED = {"now": False}


@dg.asset
def day() -> int:
    return 1


@dg.asset_check(asset=day)
def no_drift() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=not DRIFTED["now"], severity=dg.AssetCheckSeverity.WARN)


def graph(code_version: str = "1") -> dg.Definitions:
    @dg.asset(deps=[day], code_version=code_version)
    def tuned() -> int:
        return 2

    return dg.Definitions(assets=[day, tuned], asset_checks=[no_drift])


def land(instance: dg.DagsterInstance, drifted: bool = False) -> None:
    DRIFTED["now"] = drifted
    assert dg.materialize([day, no_drift], instance=instance).success


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        assert dg.materialize([day, *graph().assets], instance=instance,
                              selection=["day", "tuned"]).success
        yield instance


def test_new_data_alone_leaves_it_until_its_cron_ticks(instance: dg.DagsterInstance) -> None:
    land(instance)
    state = GraphState(instance, graph())
    assert state.stale_state(dg.AssetKey("tuned")) == "stale"
    assert waiting(state, {"tuned": WEEKLY}) == {"tuned": (
        "waits for its schedule (0 3 * * 1) or a failed check of day; new data alone does "
        "not run it")}
    assert waiting(state, {"tuned": WEEKLY}, now=datetime.now(UTC) + timedelta(days=7)) == {}
    assert "`assetbook materialize tuned`" in waiting(state, {"tuned": ManualAutomationSpec(
        type="manual")})["tuned"]


def test_a_failed_check_it_names_makes_it_due(instance: dg.DagsterInstance) -> None:
    land(instance, drifted=True)
    state = GraphState(instance, graph())
    assert due_after_checks(state, {"tuned": WEEKLY}) == {
        "tuned": "a check of day failed since its last run"}
    assert waiting(state, {"tuned": WEEKLY}) == {}
    assert waiting(state, {"tuned": WEEKLY.model_copy(update={"on_failed_checks": ()})})


def test_its_own_new_code_version_makes_it_due(instance: dg.DagsterInstance) -> None:
    land(instance)
    assert waiting(GraphState(instance, graph(code_version="2")), {"tuned": WEEKLY}) == {}


def test_one_never_materialized_is_due(instance: dg.DagsterInstance) -> None:
    with dg.instance_for_test() as empty:
        assert waiting(GraphState(empty, graph()), {"tuned": WEEKLY}) == {}
