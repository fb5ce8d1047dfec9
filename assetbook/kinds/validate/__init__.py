"""`validate`: holds its input to a pandera schema; a blocking check stops what is below."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from assetbook.kinds.base import Fail, Kind
from assetbook.spec.models import AssetSpecBase

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec


class ValidateAssetSpec(AssetSpecBase):
    """Its single input, coerced to the schema of its checks; blocked when a check fails."""

    kind: Literal["validate"]


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    if len(declared.spec.inputs) != 1:
        raise fail("a validate asset reads exactly one input", "inputs")
    if not declared.spec.checks:
        raise fail("a validate asset needs at least one schema check", "checks")


KIND = Kind("validate", ValidateAssetSpec,
            "assetbook.kinds.validate.asset:build_validate_asset", rules)
