"""The checks that warned in a command's own runs. A WARN check (drift, a non-blocking schema
rule, live performance) fails without stopping anything below it, so a run ends well and,
unless its summary says so, no one at the terminal learns that a day drifted."""

from __future__ import annotations

import os
from datetime import datetime

import dagster as dg

from assetbook.graph.orphans import PID_TAG

SHOWN_CHARS = 300


def warned_checks(instance: dg.DagsterInstance, since: datetime) -> list[str]:
    """'drift_report/no_drift: [2024-03-14] income: PSI 0.41 > 0.25 ...' for each WARN check
    that failed in a run this process launched since `since`, oldest first."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={PID_TAG: str(os.getpid())},
                                                   created_after=since))
    said = []
    for run in reversed(runs):  # newest first, as Dagster lists them
        for record in instance.all_logs(run.run_id,
                                        of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = record.dagster_event.event_specific_data if record.dagster_event \
                else None
            if isinstance(evaluation, dg.AssetCheckEvaluation) and not evaluation.passed \
                    and evaluation.severity == dg.AssetCheckSeverity.WARN:
                said.append(f"{evaluation.asset_key.to_user_string()}/{evaluation.check_name}: "
                            + shortened(evaluation.description or "failed"))
    return said


def latest_warnings(instance: dg.DagsterInstance, defs: dg.Definitions) -> list[str]:
    """The WARN checks whose latest evaluation failed, said as `warned_checks` says them: what
    `status` shows after the run that warned has scrolled away."""
    graph = defs.resolve_asset_graph()
    said = []
    for key in graph.get_all_asset_keys():
        for check in sorted(graph.get(key).check_keys, key=lambda c: c.name):
            record = instance.get_latest_asset_check_evaluation_record(check)
            evaluation = record.event.asset_check_evaluation if record and record.event \
                else None
            if evaluation is not None and not evaluation.passed \
                    and evaluation.severity == dg.AssetCheckSeverity.WARN:
                said.append(f"{key.to_user_string()}/{check.name}: "
                            + shortened(evaluation.description or "failed"))
    return said


def shortened(description: str, most: int = SHOWN_CHARS) -> str:
    """A line's worth: a drift check names every drifted column of every day."""
    return description if len(description) <= most else \
        description[:most].rsplit("; ", 1)[0] + "; ... (the check's description in the UI)"
