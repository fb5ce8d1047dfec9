"""Automation conditions and freshness policies from their specs.

Every automated asset also reacts to a new code version of itself, so an edited notebook or
spec re-materializes exactly that asset and, as it updates, everything below it. An asset with
a freshness policy is also refreshed when the policy turns WARN (about to fail) or FAIL, and
`on_failed_checks` adds a run when a check of a named upstream asset (a drift report) fails
on a partition that was just materialized.
"""

from __future__ import annotations

import operator
from functools import reduce

import dagster as dg

from assetbook.graph.landing_chain import LANDING_RUN_TAG
from assetbook.spec.models import (
    AutomationSpec,
    CronAutomationSpec,
    EagerAutomationSpec,
    FreshnessSpec,
)

AC = dg.AutomationCondition


def build_automation_condition(
    spec: AutomationSpec, fed_by_sensor: bool = False, in_landing_run: bool = False,
    refresh_when_stale: bool = False,
    gaps_allowed_in: tuple[str, ...] = (), updated_by: tuple[str, ...] = (),
    any_day_inputs: tuple[str, ...] = (),
) -> dg.AutomationCondition | None:
    """`fed_by_sensor`: a landing source, whose new partitions the landing sensor requests;
    eager would request them a second time, so only a code change triggers it.
    `in_landing_run`: one of the day's own assets that the landing sensor's run takes a new
    file through (graph/landing_chain.py). It stays eager, and that run starting, failing or
    updating a dependency on its partition counts as handled, as automation's own request
    would: otherwise the run's updates would request it a second time, and a day its check
    withheld would be retried.
    `refresh_when_stale`: an unpartitioned asset with a freshness policy (re-running a
    partitioned one would not bring newer data, only recompute every partition).
    `gaps_allowed_in`: partitioned dependencies of an unpartitioned asset, which reads the
    partitions that exist: a day withheld by its checks must not stop it for good.
    `updated_by`: the only dependencies whose updates trigger it (an evaluation follows its
    model, not each new day of its data, or it would re-score the old model first).
    `any_day_inputs`: inputs read the same day, whose update of any day triggers that day,
    not only in the latest time window (a live asset's labels land days after the answers
    they judge)."""
    parts = [part for part in (
        _base_condition(spec, fed_by_sensor, in_landing_run, _deps_missing(gaps_allowed_in),
                        updated_by, any_day_inputs),
        _failed_checks_upstream(spec.on_failed_checks) if spec.on_failed_checks else None,
        _freshness_at_risk() if refresh_when_stale else None) if part is not None]
    if len(parts) < 2:
        return parts[0] if parts else None
    return reduce(operator.or_, parts).with_label(" or ".join(p.get_label() or ""
                                                              for p in parts))


def _failed_checks_upstream(assets: tuple[str, ...]) -> dg.AutomationCondition:
    just_failed = AC.newly_updated() & AC.any_checks_match(AC.check_failed())
    return (AC.any_deps_match(just_failed).allow(dg.AssetSelection.assets(*assets))
            & ~AC.in_progress()).with_label(f"a check of {', '.join(assets)} failed")


def _freshness_at_risk() -> dg.AutomationCondition:
    at_risk = (AC.freshness_warned() | AC.freshness_failed()).newly_true()
    return (at_risk & ~AC.in_progress() & ~AC.any_deps_in_progress()).with_label(
        "freshness at risk")


def _deps_missing(gaps_allowed_in: tuple[str, ...]) -> dg.AutomationCondition:
    missing = AC.any_deps_missing()
    if gaps_allowed_in:
        missing = missing.ignore(dg.AssetSelection.assets(*gaps_allowed_in))
    return missing.with_label("any_deps_missing")


def _eager(trigger: dg.AutomationCondition, handled: dg.AutomationCondition,
           deps_missing: dg.AutomationCondition, updated_by: tuple[str, ...],
           updated_any_day: dg.AutomationCondition | None) -> dg.AutomationCondition:
    """Dagster's eager, except that the asset's own update does not count as handled when a
    dependency updated after it on the same tick: Dagster's lets it cancel the dependency's
    update, and labels corrected a second after the live asset ran were never judged.
    Like Dagster's, it keeps to the latest time window (a new asset must not backfill its
    history), unless `updated_any_day` holds for the partition since it was handled."""
    reset = ((handled & ~_updated_before_a_dependency(updated_by)) | AC.initial_evaluation()
             ).with_label("handled")
    window = AC.in_latest_time_window()
    if updated_any_day is not None:
        window = window | updated_any_day.since(reset).with_label("a dependency updated the day")
    return (window & trigger.since(reset) & ~deps_missing & ~AC.any_deps_in_progress()
            & ~AC.in_progress())


def _updated_before_a_dependency(updated_by: tuple[str, ...]) -> dg.AutomationCondition:
    """Updated on this tick, and a dependency later: a `since` of two bare `newly_updated`
    keeps their times and lets the later one win a tie (the boolean operators drop them)."""
    dependency_updated = AC.any_deps_match(AC.newly_updated())
    if updated_by:
        dependency_updated = dependency_updated.allow(dg.AssetSelection.assets(*updated_by))
    return (AC.newly_updated() & dependency_updated.since(AC.newly_updated())).with_label(
        "updated before a dependency")


def _handled() -> dg.AutomationCondition:
    """Requested by automation, or updated."""
    return AC.newly_requested() | AC.newly_updated()


def _handled_or_landed() -> dg.AutomationCondition:
    """`_handled`, or a run that automation did not request (the landing sensor's) started
    or failed on the partition, or a landing run updated a dependency of it."""
    return (_handled() | AC.run_in_progress().newly_true() | AC.execution_failed().newly_true()
            | AC.any_deps_match(AC.newly_updated() & _by_landing_runs()))


def _by_landing_runs() -> dg.AutomationCondition:
    """Every new materialization of the partition came from a landing run (or its relaunch)."""
    return AC.all_new_updates_have_run_tags(tag_keys={LANDING_RUN_TAG})


def _deps_updated_outside_landing_runs() -> dg.AutomationCondition:
    """Dagster's `any_deps_updated`, less the updates that landing runs made: such a run
    takes the day through this asset itself. Within one tick, Dagster can read the asset's
    status from an asset record loaded before that run materialized the day, and then sees
    the day neither materialized nor in progress (dagster 1.13's partition status cache)."""
    return AC.any_deps_match(
        (AC.newly_updated() & ~AC.executed_with_root_target() & ~_by_landing_runs())
        .with_label("newly_updated_outside_landing_runs")
        | AC.will_be_requested()).with_label("any_deps_updated")


def _base_condition(spec: AutomationSpec, fed_by_sensor: bool, in_landing_run: bool,
                    deps_missing: dg.AutomationCondition, updated_by: tuple[str, ...],
                    any_day_inputs: tuple[str, ...]) -> dg.AutomationCondition | None:
    if isinstance(spec, EagerAutomationSpec) and fed_by_sensor:
        return (AC.code_version_changed() & ~AC.in_progress()).with_label("code changed")
    if isinstance(spec, EagerAutomationSpec):
        updated = _deps_updated_outside_landing_runs() if in_landing_run else (
            AC.any_deps_updated())
        if updated_by:
            updated = updated.allow(dg.AssetSelection.assets(*updated_by))
        return _eager(AC.newly_missing() | updated | AC.code_version_changed(),
                      _handled_or_landed() if in_landing_run else _handled(),
                      deps_missing, updated_by, AC.any_deps_updated().allow(
                          dg.AssetSelection.assets(*any_day_inputs)) if any_day_inputs else None
                      ).with_label("eager or code changed")
    if isinstance(spec, CronAutomationSpec):
        code_changed = AC.code_version_changed() & ~AC.in_progress() & ~deps_missing
        return (AC.on_cron(spec.cron) | code_changed).with_label(f"on cron {spec.cron} or "
                                                                 "code changed")
    return None


def build_freshness_policy(spec: FreshnessSpec | None) -> dg.FreshnessPolicy | None:
    if spec is None:
        return None
    return dg.FreshnessPolicy.time_window(fail_window=spec.fail_after, warn_window=spec.warn_after)
