"""The lines a pipeline command ends with: what ran, the gate's verdict, where the reports are.

Read from what the run left behind (the promotion history and the report folder), so the
summary says what really happened, not what was planned.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.console import Console

from assetbook.cli.pipeline import PipelineRun
from assetbook.kinds.promote.asset import read_decisions
from assetbook.resources.state import StateFolder


def print_summary(console: Console, outcome: PipelineRun, state: StateFolder,
                  since: datetime, log: Path | None) -> None:
    say = console.print
    days = outcome.days
    how = "landed" if outcome.landed else "known"
    if days:  # none: a selection of unpartitioned assets, on a project with no data yet
        apart = "" if outcome.plan.empty else "\n"  # from the steps' lines above
        say(f"{apart}{len(days)} day(s) {how} so far: {days[0]} .. {days[-1]}", markup=False)
    if outcome.ignored:
        say(outcome.ignored, markup=False)
    for path in outcome.not_days:
        say(f"not read: {path} (a day's file is named after it: 2024-01-03.csv)",
            markup=False)
    if outcome.computed:
        say(f"materialized {', '.join(outcome.plan.day_assets)} for "
            f"{len(outcome.computed)} day(s)", markup=False)
    if outcome.plan.models is not None:
        made = (outcome.refused.materialized if outcome.refused
                else outcome.plan.models.assets)
        say(f"materialized {', '.join(made) or 'nothing'}", markup=False)
    for warned in outcome.warned:  # nothing stopped for it: said, or no one sees it
        say(f"warning: {warned}", markup=False)
    for name, why in outcome.plan.called.items():
        say(f"{name} ran, though on a schedule: {why}", markup=False)
    for name, why in outcome.plan.waiting.items():
        say(f"not run: {name} {why}", markup=False)
    if outcome.plan.empty:
        say("nothing new to run" if outcome.standing or outcome.plan.waiting
            else "everything was already materialized")
    for gate, why in outcome.standing.items():
        say(f"gate: {gate}: {why} (an earlier run's verdict: the gate judges again when new "
            "data or code arrives)", markup=False)
    for line in gate_lines(state.promotions, since):
        say(line, markup=False)
    for report in new_reports(state.reports, since):
        say(f"report: {report}", markup=False)
    say(f"state folder: {state.root}", markup=False)
    if log is not None:
        say(f"full log: {log}", markup=False)


def gate_lines(history: Path, since: datetime) -> list[str]:
    """The verdict of a promotion decided since `since`, with each rule and its numbers."""
    start = since.replace(microsecond=0)
    recent = [r for r in read_decisions(history) if datetime.fromisoformat(r["at"]) >= start]
    if not recent:
        return []
    last = recent[-1]
    champion = f" over champion v{last['champion']}" if last.get("champion") else ""
    verdict = "promoted" if last["passed"] else "refused, the champion stays"
    return ([f"gate: {last['model']} candidate v{last['candidate']}{champion}: {verdict}"]
            + [f"  {rule}" for rule in last["rules"]])


def new_reports(reports: Path, since: datetime) -> list[Path]:
    """HTML reports written since `since`, the newest last."""
    if not reports.is_dir():
        return []
    stamp = since.timestamp()
    found = [p for p in reports.rglob("*.html") if p.stat().st_mtime >= stamp]
    return sorted(found, key=lambda p: p.stat().st_mtime)
