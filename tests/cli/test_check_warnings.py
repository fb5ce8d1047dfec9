"""The WARN checks a command's runs failed, which its summary says: nothing stopped for them."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import dagster as dg

from assetbook.cli.check_warnings import SHOWN_CHARS, latest_warnings, shortened, warned_checks
from assetbook.graph.orphans import PID_TAG


def day_with_checks(drifted: bool) -> dg.AssetsDefinition:
    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["2024-01-01", "2024-01-02"]),
              check_specs=[dg.AssetCheckSpec("no_drift", asset="day"),
                           dg.AssetCheckSpec("rows", asset="day")])
    def day(context):  # unannotated: Dagster reads no string annotation
        yield dg.Output(1)
        yield dg.AssetCheckResult(check_name="no_drift", passed=not drifted,
                                  severity=dg.AssetCheckSeverity.WARN,
                                  description=f"[{context.partition_key}] income: PSI 0.41")
        yield dg.AssetCheckResult(check_name="rows", passed=True)

    return day


def test_the_warnings_are_those_of_this_process_runs_since_it_started(
        instance: dg.DagsterInstance) -> None:
    mine = {PID_TAG: str(os.getpid())}
    before = dg.materialize([day_with_checks(True)], instance=instance, tags=mine,
                            partition_key="2024-01-01")
    assert before.success
    since = datetime.now(UTC)
    assert warned_checks(instance, since) == []  # not what an earlier command warned
    for drifted, tags, key in ((True, {PID_TAG: "1"}, "2024-01-01"),  # another process's run
                               (False, mine, "2024-01-01"), (True, mine, "2024-01-02")):
        assert dg.materialize([day_with_checks(drifted)], instance=instance, tags=tags,
                              partition_key=key).success  # a WARN check stops nothing
    assert warned_checks(instance, since) == ["day/no_drift: [2024-01-02] income: PSI 0.41"]


def test_a_long_description_is_cut_between_its_items() -> None:
    items = [f"[2024-01-0{d}] column_{c}: PSI 0.{d}{c} > 0.25" for d in range(1, 9)
             for c in range(9)]
    said = shortened("; ".join(items))
    assert len(said) < SHOWN_CHARS + 50 and said.endswith("; ... (the check's description in "
                                                           "the UI)")
    assert said.split("; ")[:-1] == items[:len(said.split("; ")) - 1]  # whole items only
    assert shortened("one: short") == "one: short"


def test_status_says_the_warn_checks_whose_latest_evaluation_failed(
        instance: dg.DagsterInstance) -> None:
    """A drifted day is said by `status` too, until a later evaluation of that check passes."""
    for drifted, key in ((True, "2024-01-01"), (False, "2024-01-02")):
        defs = dg.Definitions(assets=[day_with_checks(drifted)])
        assert dg.materialize(list(defs.assets), instance=instance, partition_key=key).success
        assert latest_warnings(instance, defs) == (
            ["day/no_drift: [2024-01-01] income: PSI 0.41"] if drifted else [])
