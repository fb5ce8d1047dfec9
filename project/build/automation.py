"""Automation conditions and freshness policies from their specs.

Every automated asset also reacts to a new code version of itself, so an edited notebook or
spec re-materializes exactly that asset and, as it updates, everything below it.
"""

from __future__ import annotations

import dagster as dg

from project.spec.models import (
    AutomationSpec,
    CronAutomationSpec,
    EagerAutomationSpec,
    FreshnessSpec,
)

AC = dg.AutomationCondition


def build_automation_condition(
    spec: AutomationSpec, fed_by_sensor: bool = False
) -> dg.AutomationCondition | None:
    """`fed_by_sensor`: a landing source, whose new partitions the landing sensor requests;
    eager would request them a second time, so only a code change triggers it."""
    if isinstance(spec, EagerAutomationSpec) and fed_by_sensor:
        return (AC.code_version_changed() & ~AC.in_progress()).with_label("code changed")
    if isinstance(spec, EagerAutomationSpec):
        return AC.eager().replace(
            "any_deps_updated", AC.any_deps_updated() | AC.code_version_changed()
        ).with_label("eager or code changed")
    if isinstance(spec, CronAutomationSpec):
        code_changed = AC.code_version_changed() & ~AC.in_progress() & ~AC.any_deps_missing()
        return (AC.on_cron(spec.cron) | code_changed).with_label(f"on cron {spec.cron} or "
                                                                 "code changed")
    return None


def build_freshness_policy(spec: FreshnessSpec | None) -> dg.FreshnessPolicy | None:
    if spec is None:
        return None
    return dg.FreshnessPolicy.time_window(fail_window=spec.fail_after, warn_window=spec.warn_after)
