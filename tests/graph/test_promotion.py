"""The promotion rule's check condition, read from a real Dagster instance: the latest
evaluation of each of the asset's checks passed, and came after the version arrived."""

from __future__ import annotations

import time

import dagster as dg

from assetbook.graph.promotion import checks_unmet

OUTCOME = {"passed": True}


@dg.asset(check_specs=[dg.AssetCheckSpec("thresholds", asset="live")])
def live():
    yield dg.Output(1)
    yield dg.AssetCheckResult(check_name="thresholds", passed=OUTCOME["passed"])


def test_the_rule_waits_for_each_check_to_pass_after_the_version_arrived(
        instance: dg.DagsterInstance) -> None:
    defs = dg.Definitions(assets=[live])
    context = dg.build_sensor_context(instance=instance,
                                      repository_def=defs.get_repository_def())

    def evaluate(passed: bool) -> None:
        OUTCOME["passed"] = passed
        assert dg.materialize([live], instance=instance, raise_on_error=False)

    assert checks_unmet(context, "live", 0.0) == [
        "live/thresholds not evaluated since it was deployed"]
    evaluate(passed=True)
    assert checks_unmet(context, "live", 0.0) == []
    arrived = time.time()
    assert checks_unmet(context, "live", arrived) == [
        "live/thresholds not evaluated since it was deployed"]
    evaluate(passed=False)
    assert checks_unmet(context, "live", arrived) == ["live/thresholds failed"]
    evaluate(passed=True)
    assert checks_unmet(context, "live", arrived) == []
