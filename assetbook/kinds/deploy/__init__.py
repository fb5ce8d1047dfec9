"""`deploy`: the bento served on 127.0.0.1, switched blue/green after a probe answers.

A `deploy` fed by the bento is the first environment: each new champion is served there at
once. A `deploy` fed by another `deploy` is a later one (production after staging): a version
moves on to it only when promoted, by `assetbook promote --to <name>` or by its
`promote_when` rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from assetbook.kinds.base import Fail, Kind
from assetbook.spec.models import AssetSpecBase, Duration, ProbeSpec, Strict

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec


class PromotionRuleSpec(Strict):
    """When the version served by the deployment before this one moves on without a person."""

    after: Duration = Field(description="How long it must have served there, e.g. '2h'.")
    max_errors: int = Field(0, ge=0, description="The most 5xx answers its server may have "
                            "given there.")
    checks: tuple[str, ...] = Field((), description="Assets whose latest check evaluations "
                                    "must all have passed since it was deployed there, e.g. "
                                    "[live_performance].")


class DeployAssetSpec(AssetSpecBase):
    kind: Literal["deploy"]
    port: int = Field(3030, ge=1, le=65535, description="Served on 127.0.0.1:port "
                      "($ASSETBOOK_SERVE_PORT moves every deployment's port by the same "
                      "amount).")
    probe: ProbeSpec
    promote_when: PromotionRuleSpec | None = Field(
        None, description="For a deployment fed by another one: when a version moves on "
        "by itself; without it only `assetbook promote --to <asset>` moves it.")


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    spec = declared.spec
    assert isinstance(spec, DeployAssetSpec)
    if len(spec.inputs) != 1:
        raise fail("reads exactly one input (the bento, or the deployment before it)",
                   "inputs")
    (source,) = spec.inputs
    fed_kind = project.assets[source].spec.kind
    if fed_kind not in ("package", "deploy"):
        raise fail(f"reads a bento (a `package` asset) or another `deploy`, not the "
                   f"`{fed_kind}` asset '{source}'", "inputs")
    if spec.promote_when is not None:
        if fed_kind != "deploy":
            raise fail("promote_when applies to a deployment fed by another deployment",
                       "promote_when")
        unknown = [name for name in spec.promote_when.checks if name not in project.assets]
        if unknown:
            raise fail(f"promote_when.checks names no asset {', '.join(unknown)}",
                       "promote_when")
    same_port = [d.name for d in project.assets.values() if d.name != declared.name
                 and isinstance(d.spec, DeployAssetSpec) and d.spec.port == spec.port]
    if same_port:
        raise fail(f"port {spec.port} is also the port of '{same_port[0]}': give each "
                   "deployment its own", "port")


KIND = Kind("deploy", DeployAssetSpec, "assetbook.kinds.deploy.asset:build_deploy_asset", rules)
