"""A gate's refusal that still stands: the same candidate, judged on the same inputs by the same
rules, would be refused again.

A refused champion writes no materialization, so Dagster keeps reporting it stale. Without
this, every later `assetbook run` would gate the same candidate again and fail the same way
(a scheduled run failing each day until new data arrived). The candidate is judged again once
an input is materialized again, or the code version changes of the gate or of the package and
deployment whose served request its servable rule reads (a fixed transform, say).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from assetbook.graph.context import BuildContext
    from assetbook.kinds.package.servable import ServedRequest

GATE_CHECK = "gate"
JUDGED_BY = "judged_by"  # the check's metadata: the code versions its verdict depends on


def judged_by(ctx: BuildContext, gate: str, served: ServedRequest | None) -> dict[str, str]:
    """The code version of the gate and of the assets its servable rule read, as they are now
    (read at run time: every asset of the project is built by then)."""
    return {name: ctx.code_versions[name] for name in (gate, *(served.read_from if served
                                                              else ()))}


def standing_refusal(instance: dg.DagsterInstance, defs: dg.Definitions, asset: str,
                     rolled_back: datetime | None = None) -> str | None:
    """Why `asset`'s gate last refused, if nothing it judged has changed since: its inputs not
    materialized again, the code versions it depends on the same, no champion rolled back
    since (`rolled_back`: the latest rollback, to the second); None otherwise."""
    key = dg.AssetKey(asset)
    record = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(key, GATE_CHECK))
    evaluation = record.event.asset_check_evaluation if record and record.event else None
    if evaluation is None or evaluation.passed or JUDGED_BY not in evaluation.metadata:
        return None
    graph = defs.resolve_asset_graph()
    judged = evaluation.metadata[JUDGED_BY].value
    if not isinstance(judged, dict) or any(
            not graph.has(dg.AssetKey(name)) or graph.get(dg.AssetKey(name)).code_version
            != version for name, version in judged.items()):
        return None
    if rolled_back is not None and rolled_back.timestamp() >= int(record.event.timestamp):
        return None  # judged against a champion that is no longer one
    inputs = instance.get_latest_materialization_events(graph.get(key).parent_keys)
    if any(event is None or event.timestamp > record.event.timestamp
           for event in inputs.values()):
        return None
    return evaluation.description
