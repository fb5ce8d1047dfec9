"""Builder of `drift` assets: each partition of the input scored against the partitions stored
before it, or the latest of a `reference_asset` (PSI per column, see
assetbook/runners/drift.py), with a non-blocking check that fails, as a warning, when a
column drifts past the threshold.

The reference partitions are read from the artifact store rather than declared as inputs:
declared, every new day would make every earlier report stale and re-request it.
"""

import functools
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from assetbook.graph.context import BuildContext, partition_keys
from assetbook.graph.outputs import versioned_output
from assetbook.kinds.drift import DriftAssetSpec
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.store import read_frame
from assetbook.runners.drift import drift_table
from assetbook.spec.loader import DeclaredAsset

DRIFT_CHECK = "no_drift"


def build_drift_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, DriftAssetSpec)
    (upstream,) = spec.inputs
    kwargs = ctx.asset_kwargs(declared, None, ["assetbook.runners.drift"])
    against = (f"the latest {spec.reference} partitions of {spec.reference_asset}"
               if spec.reference_asset else f"the {spec.reference} partitions before it")
    kwargs["check_specs"] = [*kwargs["check_specs"], dg.AssetCheckSpec(
        DRIFT_CHECK, asset=declared.name, blocking=False,
        description=f"no column of {upstream} moves past PSI {spec.threshold} against "
                    f"{against}")]
    store = ArtifactIOManager(root=str(ctx.state.artifacts))

    @dg.asset(**kwargs, kinds={"pandas"}, backfill_policy=dg.BackfillPolicy.single_run())
    def compute(context: AssetExecutionContext, **inputs: dict[str, Path]):
        stored = store.stored(dg.AssetKey(spec.reference_asset or upstream))
        # days come in order, and day k's reference is day k-1's slid by one: each is read once
        read = functools.lru_cache(maxsize=spec.reference + 1)(read_frame)
        tables = {key: _score(spec, read, inputs[upstream][key], reference_paths(
                      stored, None if spec.reference_asset else key, spec.reference))
                  for key in partition_keys(context) if key in inputs[upstream]}
        drifted = {key: table[table["drifted"]] for key, table in tables.items()}
        yield versioned_output(ctx, context, declared.name, tables, _summary(tables))
        yield _check_result(spec, drifted)

    return compute


def reference_paths(stored: dict[str, Path], key: str | None, size: int) -> list[Path]:
    """The `size` stored partitions whose keys come just before `key` (None: the latest)."""
    return [stored[k] for k in sorted(k for k in stored if key is None or k < key)[-size:]]


def _score(spec: DriftAssetSpec, read: Callable[[Path], pd.DataFrame], day: Path,
           reference: list[Path]) -> pd.DataFrame:
    frame = read(day)
    if not reference:  # the first day has nothing to be compared with: no drift by definition
        reference_frame = frame
    else:
        reference_frame = pd.concat([read(p) for p in reference], ignore_index=True)
    table = drift_table(reference_frame, frame, spec.threshold, list(spec.columns) or None,
                        spec.bins)
    table.insert(1, "reference_days", len(reference))
    return table


def _summary(tables: dict[str, pd.DataFrame]) -> dict[str, object]:
    latest = tables[max(tables)] if tables else pd.DataFrame()
    return {
        "max_psi": float(max((t["psi"].max() for t in tables.values()), default=0.0)),
        "drifted_columns": ", ".join(sorted({c for t in tables.values()
                                             for c in t.loc[t["drifted"], "column"]})) or "none",
        "drift": dg.MetadataValue.md(latest.round(4).to_markdown(index=False)
                                     if not latest.empty else "no data"),
    }


def _check_result(spec: DriftAssetSpec, drifted: dict[str, pd.DataFrame]) -> dg.AssetCheckResult:
    lines = [f"[{key}] {row.column}: PSI {row.psi:.3f} > {spec.threshold} (mean "
             f"{row.reference_mean:.4g} -> {row.day_mean:.4g})"
             for key, table in drifted.items() for row in table.itertuples()]
    return dg.AssetCheckResult(
        check_name=DRIFT_CHECK, passed=not lines, severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(lines)[:2000] if lines else "no column drifted",
        metadata={"drifted": len(lines), "threshold": spec.threshold})
