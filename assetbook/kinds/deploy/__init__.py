"""`deploy`: the bento served on 127.0.0.1, switched blue/green after a probe answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from assetbook.kinds.base import Fail, Kind
from assetbook.spec.models import AssetSpecBase, ProbeSpec

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec


class DeployAssetSpec(AssetSpecBase):
    kind: Literal["deploy"]
    port: int = Field(3030, ge=1, le=65535, description="Served on 127.0.0.1:port "
                      "($ASSETBOOK_SERVE_PORT overrides).")
    probe: ProbeSpec


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    if len(declared.spec.inputs) != 1:
        raise fail("reads exactly one input (the champion, or the bento)", "inputs")


KIND = Kind("deploy", DeployAssetSpec, "assetbook.kinds.deploy.asset:build_deploy_asset", rules)
