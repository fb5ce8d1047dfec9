"""A plan's assets as the summary names them: each once, upstream first."""

from __future__ import annotations

from assetbook.cli.plan import Plan, Step, contiguous


def test_the_days_assets_are_named_upstream_first_whatever_step_came_first() -> None:
    """A day that failed its check runs again from the check on, before a new day that runs
    from its source: `raw` is still named first."""
    plan = Plan((Step(("validated", "features", "drift"), ("2024-01-12",)),
                 Step(("raw", "validated", "features", "drift"), ("2024-01-14",)),
                 Step(("features",), ("2024-01-15",))), Step(("model",)))
    assert plan.day_assets == ("raw", "validated", "features", "drift")
    assert plan.assets == ("validated", "features", "drift", "raw", "model")  # as they run
    assert Plan((), Step(("model",))).day_assets == ()


def test_a_range_is_cut_where_dagsters_order_does_not_hold_its_days_side_by_side() -> None:
    days = ["d1", "d2", "d3", "d4", "d5"]
    assert contiguous(days, days) == [tuple(days)]
    assert contiguous(days, ["d1", "d2", "d4", "d5", "d3"]) == [("d1", "d2"), ("d3",),
                                                                ("d4", "d5")]
    assert contiguous(["d1", "d2"], ["d2", "d1"]) == [("d1",), ("d2",)]  # never backwards
