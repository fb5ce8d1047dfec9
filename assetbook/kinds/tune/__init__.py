"""`tune`: a Ray Tune search over a window of its data input -> the best hyper-parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from assetbook.kinds.base import Fail, Kind
from assetbook.spec.models import (
    AutomationSpec,
    CronAutomationSpec,
    ModelAssetSpec,
    RaySpec,
    SearchSpec,
)

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec


class TuneAssetSpec(ModelAssetSpec):
    kind: Literal["tune"]
    search: SearchSpec
    ray: RaySpec = RaySpec()
    automation: AutomationSpec = CronAutomationSpec(type="on_cron", cron="0 3 * * 1")


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    if len(declared.spec.inputs) != 1:
        raise fail("a tune asset reads exactly one data input", "inputs")


KIND = Kind("tune", TuneAssetSpec, "assetbook.kinds.tune.asset:build_tune_asset", rules)
