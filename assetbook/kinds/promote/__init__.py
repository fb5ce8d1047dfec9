"""`promote`: the champion, the candidate that passes the gate; the MLflow alias follows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from assetbook.kinds.base import Fail, Kind
from assetbook.kinds.evaluate import check_model_inputs
from assetbook.spec.models import AssetSpecBase, GateSpec

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec


class PromoteAssetSpec(AssetSpecBase):
    """The champion: the candidate, if it passes the gate; the MLflow alias follows."""

    kind: Literal["promote"]
    gate: GateSpec = GateSpec()


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    check_model_inputs(project, declared, fail, "evaluate")


KIND = Kind("promote", PromoteAssetSpec, "assetbook.kinds.promote.asset:build_promote_asset",
            rules)
