"""A gate's refusal that still stands: the same candidate, judged on the same inputs by the same
gate, would be refused again.

A refused champion writes no materialization, so Dagster keeps reporting it stale. Without
this, every later `assetbook run` would gate the same candidate again and fail the same way
(a scheduled run failing each day until new data arrived). New data or code re-materializes
an input, or changes the gate's code version, and the candidate is judged again.
"""

from __future__ import annotations

import dagster as dg

GATE_CHECK = "gate"
CODE_VERSION_KEY = "code_version"  # the gate's code version, in the check's metadata


def standing_refusal(instance: dg.DagsterInstance, defs: dg.Definitions,
                     asset: str) -> str | None:
    """Why `asset`'s gate last refused, if nothing it judged has changed since: its inputs not
    materialized again, its code version the same; None otherwise."""
    key = dg.AssetKey(asset)
    record = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(key, GATE_CHECK))
    evaluation = record.event.asset_check_evaluation if record and record.event else None
    if evaluation is None or evaluation.passed:
        return None
    node = defs.resolve_asset_graph().get(key)
    judged = evaluation.metadata.get(CODE_VERSION_KEY)
    if judged is None or judged.value != node.code_version:
        return None
    inputs = instance.get_latest_materialization_events(node.parent_keys)
    if any(event is None or event.timestamp > record.event.timestamp
           for event in inputs.values()):
        return None
    return evaluation.description
