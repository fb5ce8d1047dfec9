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
    version, label coverage and delay, latency percentiles; a check fails below `min` or
    above `max`, and an asset whose `automation.on_failed_checks` names this one retrains."""

    kind: Literal["live"]
    target: str = Field("label", description="The labels' column holding the truth.")
    minimum: dict[str, float] = Field(default_factory=dict, alias="min",
                                      description="metric: lowest acceptable live value.")
    maximum: dict[str, float] = Field(default_factory=dict, alias="max",
                                      description="metric: highest acceptable live value.")


def predictions_input(project: ProjectSpec, declared: DeclaredAsset) -> str | None:
    """The input that is a `served` source; the other input holds the labels."""
    served = [name for name in declared.spec.inputs
              if isinstance(getattr(project.assets[name].spec, "source", None),
                            ServedSourceSpec)]
    return served[0] if len(served) == 1 else None


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    inputs = declared.spec.inputs
    if len(inputs) != 2 or not all(isinstance(i, SameInputSpec) for i in inputs.values()) \
            or predictions_input(project, declared) is None:
        raise fail("a live asset reads two inputs with mapping 'same': one `served` source "
                   "(the recorded predictions) and the labels of the same days", "inputs")


KIND = Kind("live", LiveAssetSpec, "assetbook.kinds.live.asset:build_live_asset", rules)
