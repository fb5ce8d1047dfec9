"""Assets on a schedule: what `assetbook run` leaves for later, as `assetbook dev` does.

An unpartitioned asset whose automation is `on_cron` (a search, weekly) or `manual` is not
re-materialized merely because new data arrived above it: it waits for a tick of its cron
since its last materialization, a failed check of an asset its `on_failed_checks` names (a
drifted day), its freshness policy at risk, or someone naming it (`assetbook materialize`).
A new code version of its own, a failed last run, or no materialization at all run it at
once. What is below it still runs on the new data, with its last value (the tuned
hyper-parameters).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg

from assetbook.cli.session import Session
from assetbook.graph.internals import GraphState, last_cron_tick
from assetbook.spec.models import CronAutomationSpec, ManualAutomationSpec

Schedule = CronAutomationSpec | ManualAutomationSpec


def schedules(session: Session) -> dict[str, Schedule]:
    """The project's unpartitioned assets whose automation is a schedule, with it."""
    graph = session.defs.resolve_asset_graph()
    return {name: declared.spec.automation for name, declared in session.project.assets.items()
            if isinstance(declared.spec.automation, Schedule)
            and not graph.get(dg.AssetKey(name)).is_partitioned}


def waiting(state: GraphState, scheduled: Mapping[str, Schedule],
            now: datetime | None = None) -> dict[str, str]:
    """The `scheduled` assets that are not due, each with what it waits for: `run` leaves
    them as they are, stale or below new days (Dagster marks them stale only once a day
    above them has run)."""
    now = now or datetime.now(UTC)
    held = {}
    for name, automation in scheduled.items():
        key = dg.AssetKey(name)
        if state.code_changed(key) or state.failed_last(key) \
                or state.freshness([key])[key] in ("WARN", "FAIL"):
            continue
        cron = automation.cron if isinstance(automation, CronAutomationSpec) else None
        made = state.materialized_at(key)
        if made is not None and not (cron and last_cron_tick(cron, now).timestamp() > made) \
                and not due_after_checks(state, {name: automation}):
            when = [f"its schedule ({cron})" if cron else f"`assetbook materialize {name}`"]
            if automation.on_failed_checks:
                when.append(f"a failed check of {', '.join(automation.on_failed_checks)}")
            held[name] = f"waits for {' or '.join(when)}; new data alone does not run it"
    return held


def due_after_checks(state: GraphState, scheduled: Mapping[str, Schedule]) -> dict[str, str]:
    """Those of the `scheduled` assets that a check named in their `on_failed_checks` failed
    after their latest materialization (a day that drifted), each with that reason."""
    due = {}
    for name, automation in scheduled.items():
        made = state.materialized_at(dg.AssetKey(name))
        if made is not None and any(state.check_failed_since(dg.AssetKey(checked), made)
                                    for checked in automation.on_failed_checks):
            due[name] = (f"a check of {', '.join(automation.on_failed_checks)} failed since "
                         "its last run")
    return due
