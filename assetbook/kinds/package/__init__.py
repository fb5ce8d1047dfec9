"""`package`: the champion packaged by BentoML with the service Assetbook builds for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from assetbook.kinds.base import Fail, Kind
from assetbook.kinds.package.served import resolve_served
from assetbook.spec.models import AssetSpecBase, ServiceSpec

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec

BENTO_CUSTOMIZATIONS = ("bentofile.yaml", "service.py")


class PackageAssetSpec(AssetSpecBase):
    kind: Literal["package"]
    service: ServiceSpec = ServiceSpec()
    bento: str | None = Field(
        None, description="Optional folder of what you customize, e.g. bentos/loans: a "
        "bentofile.yaml whose settings (description, labels, include, python.packages, "
        "envs, docker) add to Assetbook's, and a service.py that replaces Assetbook's service.")


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    """One input, the champion; the bento folder, when given, holds what the user customizes;
    the service resolves."""
    spec = declared.spec
    assert isinstance(spec, PackageAssetSpec)
    if len(spec.inputs) != 1:
        raise fail("reads exactly one input (the champion, or the bento)", "inputs")
    if spec.bento is not None:
        folder = project.root / spec.bento
        if not any((folder / name).is_file() for name in BENTO_CUSTOMIZATIONS):
            raise fail(f"'{spec.bento}' holds neither {' nor '.join(BENTO_CUSTOMIZATIONS)} "
                       f"(looked in {folder}): add what you customize there, or remove `bento` "
                       "to serve Assetbook's service as it is", "bento")
    resolve_served(project, declared.name)


KIND = Kind("package", PackageAssetSpec, "assetbook.kinds.package.asset:build_package_asset",
            rules)
