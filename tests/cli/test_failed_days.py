"""When every day of a run failed, each reason is said once with the days it failed."""

from __future__ import annotations

from assetbook.cli.pipeline import by_reason


def test_a_reason_every_day_shares_is_said_once() -> None:
    schema = "validated_data: no class BCRows in project.schemas"
    failed = {f"2024-03-0{day}": schema for day in range(1, 9)}
    failed["2024-03-09"] = "cannot read landed file days/2024-03-09.csv: it is empty (0 bytes)"
    assert by_reason(failed).splitlines() == [
        f"8 days, 2024-03-01 .. 2024-03-08: {schema}",
        "2024-03-09: cannot read landed file days/2024-03-09.csv: it is empty (0 bytes)"]
    assert by_reason({"2024-03-01": "bad", "2024-03-05": "bad"}) == "2024-03-01, 2024-03-05: bad"
