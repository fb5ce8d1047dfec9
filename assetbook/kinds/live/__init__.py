"""`live`: the served model's performance on real traffic, once its labels have arrived."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from assetbook.kinds.base import Fail, Kind
from assetbook.spec.models import AssetSpecBase, SameInputSpec, ServedSourceSpec

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec


class LiveAssetSpec(AssetSpecBase):
    """A day of recorded predictions (a `served` source) joined with that day's labels (any
    asset with `request_id`, `row` for a batch's rows, and the target): metrics per model
    version, label coverage and delay, latency percentiles, and with a `served` source of
    refusals the error rate; a check fails below `min` or above `max`, and an asset whose
    `automation.on_failed_checks` names this one retrains."""

    kind: Literal["live"]
    target: str = Field("label", description="The labels' column holding the truth.")
    minimum: dict[str, float] = Field(default_factory=dict, alias="min",
                                      description="metric: lowest acceptable live value.")
    maximum: dict[str, float] = Field(default_factory=dict, alias="max",
                                      description="metric: highest acceptable live value.")


def served_inputs(project: ProjectSpec, declared: DeclaredAsset,
                  records: Literal["answers", "refusals"]) -> list[str]:
    """The inputs that are `served` sources of those records."""
    return [name for name in declared.spec.inputs
            if isinstance(source := getattr(project.assets[name].spec, "source", None),
                          ServedSourceSpec) and source.records == records]


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    inputs = declared.spec.inputs
    if len(inputs) not in (2, 3) or not all(isinstance(i, SameInputSpec)
                                            for i in inputs.values()) \
            or len(served_inputs(project, declared, "answers")) != 1 \
            or len(inputs) - 2 != len(served_inputs(project, declared, "refusals")):
        raise fail("a live asset reads, with mapping 'same', one `served` source (the recorded "
                   "answers), the labels of the same days, and optionally a `served` source "
                   "with `records: refusals` (for the error rate)", "inputs")


KIND = Kind("live", LiveAssetSpec, "assetbook.kinds.live.asset:build_live_asset", rules)
