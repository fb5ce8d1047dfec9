"""The promotion history (`promotions.jsonl`) as a rollback reads it."""

from __future__ import annotations

from pathlib import Path

from assetbook.kinds.promote.asset import append_decision, replaced_champion


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
