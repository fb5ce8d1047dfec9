"""`drift`: each partition of its input scored against the partitions stored before it, or
against the latest partitions of another asset (the served inputs against the data the
model trained on)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from assetbook.kinds.base import Fail, Kind
from assetbook.spec.models import AssetSpecBase, SameInputSpec

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec


class DriftAssetSpec(AssetSpecBase):
    """Each partition of its input against the partitions stored before it: PSI per column,
    and a (non-blocking) check that fails when a column drifts past the threshold."""

    kind: Literal["drift"]
    reference: int = Field(14, ge=1, description="How many earlier partitions form the "
                           "reference (like a model's training window).")
    reference_asset: str | None = Field(
        None, description="Score against the latest `reference` partitions of this asset "
        "instead of the input's own earlier ones: e.g. a `served` source's recorded requests "
        "against the validated days a model learns from. Columns of both are compared.")
    threshold: float = Field(0.25, gt=0, description="PSI above which a column has drifted.")
    columns: tuple[str, ...] = Field((), description="Columns to score; default: all numeric.")
    bins: int = Field(10, ge=2, description="Quantile bins of a continuous column.")


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    inputs = declared.spec.inputs
    if len(inputs) != 1 or not isinstance(next(iter(inputs.values())), SameInputSpec):
        raise fail("a drift asset reads exactly one input, with mapping 'same' (the "
                   "reference is the partitions stored before it)", "inputs")
    other = declared.spec.reference_asset
    if other is not None and other not in project.assets:
        raise fail(f"no asset '{other}' to take the reference from", "reference_asset")


KIND = Kind("drift", DriftAssetSpec, "assetbook.kinds.drift.asset:build_drift_asset", rules)
