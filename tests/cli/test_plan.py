"""A plan's assets as the summary names them: each once, upstream first."""

from __future__ import annotations

from assetbook.cli.plan import Plan, Step


def test_the_days_assets_are_named_upstream_first_whatever_step_came_first() -> None:
    """A day that failed its check runs again from the check on, before a new day that runs
    from its source: `raw` is still named first."""
    plan = Plan((Step(("validated", "features", "drift"), ("2024-01-12",)),
                 Step(("raw", "validated", "features", "drift"), ("2024-01-14",)),
                 Step(("features",), ("2024-01-15",))), Step(("model",)))
    assert plan.day_assets == ("raw", "validated", "features", "drift")
    assert plan.assets == ("validated", "features", "drift", "raw", "model")  # as they run
    assert Plan((), Step(("model",))).day_assets == ()
