"""The promotion history (`promotions.jsonl`) as a rollback reads it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from assetbook.kinds.promote.asset import append_decision, last_rollback, replaced_champion
from assetbook.kinds.promote.refusal import GATE_CHECK, JUDGED_BY, standing_refusal


def test_rolling_back_twice_goes_further_back_not_forward(tmp_path: Path) -> None:
    """v1, v3 and v5 promoted (v4 refused), then a rollback from v5 to v3: the next rollback
    from v3 goes to v1, which v3 replaced, and none goes on from v1, the first."""
    history = tmp_path / "promotions.jsonl"
    for record in ({"candidate": "1", "passed": True, "previous": None},
                   {"candidate": "3", "passed": True, "previous": "1"},
                   {"candidate": "4", "passed": False},
                   {"candidate": "5", "passed": True, "previous": "3"},
                   {"candidate": "3", "champion": "5", "passed": True},  # a rollback
                   {"candidate": "2", "passed": True, "previous": "9", "model": "other"}):
        append_decision(history, {"model": "loans", **record})
    assert replaced_champion(history, "loans", "5") == "3"
    assert replaced_champion(history, "loans", "3") == "1"
    assert replaced_champion(history, "loans", "1") is None
    assert replaced_champion(tmp_path / "none.jsonl", "loans", "1") is None


@dg.asset(code_version="1")
def candidate() -> int:
    return 1


@dg.asset(deps=[candidate], code_version="1",
          check_specs=[dg.AssetCheckSpec(GATE_CHECK, asset="champion")])
def champion() -> Iterator[dg.Output | dg.AssetCheckResult]:
    yield dg.AssetCheckResult(passed=False, check_name=GATE_CHECK,
                              description="candidate v7 refused: rmse 53.9 vs champion 49.3",
                              metadata={JUDGED_BY: {"champion": "1"}})
    yield dg.Output(None)


def test_a_refusal_stands_until_a_champion_is_rolled_back(tmp_path: Path) -> None:
    """The gate judged the candidate against the champion of its time: after a rollback, the
    next run judges it again, and `status` no longer quotes the old champion's numbers."""
    defs = dg.Definitions(assets=[candidate, champion])
    history = tmp_path / "promotions.jsonl"
    with dg.instance_for_test() as instance:
        assert dg.materialize([candidate, champion], instance=instance,
                              raise_on_error=False).get_asset_check_evaluations()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        append_decision(history, {"model": "m", "candidate": "7", "champion": "4",  # its own
                                  "passed": False, "at": now, "rules": ["rmse 53.9 vs ..."]})
        refused = standing_refusal(instance, defs, "champion", last_rollback(history))
        assert refused == "candidate v7 refused: rmse 53.9 vs champion 49.3"
        append_decision(history, {"model": "m", "candidate": "3", "champion": "4",
                                  "passed": True, "at": now, "rules": ["rollback from v4 to v3"]})
        assert standing_refusal(instance, defs, "champion", last_rollback(history)) is None
