"""The deployments a project declares (each an environment, in the order versions flow through
them), where their servers keep their state, and the deployer of each (served behind nginx on
127.0.0.1, switched blue/green). Read from the specs and the state folder alone, without
Dagster: `assetbook stop` needs nothing else."""

import os
from pathlib import Path

from assetbook.errors import AssetbookError
from assetbook.kinds.deploy import DeployAssetSpec
from assetbook.resources.state import StateFolder
from assetbook.runners.serving.deployment import MONITORING_FOLDER, Deployer, Probe
from assetbook.spec.loader import DeclaredAsset, ProjectSpec

PORT_ENV = "ASSETBOOK_SERVE_PORT"


def bentoml_home(state: StateFolder) -> Path:
    return state.root / "bentoml"


def serving_folder(state: StateFolder, deployment: str) -> Path:
    return state.root / "serving" / deployment


def served_predictions(state: StateFolder, deployment: str) -> Path:
    """The monitoring folder where a deployment's servers record what they answered."""
    return serving_folder(state, deployment) / MONITORING_FOLDER


def deployments(project: ProjectSpec) -> list[DeclaredAsset]:
    """The `deploy` assets, each after the one that feeds it."""
    found = {d.name: d for d in project.assets.values() if isinstance(d.spec, DeployAssetSpec)}
    ordered: list[DeclaredAsset] = []
    while len(ordered) < len(found):
        ordered += [d for d in found.values() if d not in ordered
                    and (fed_by(project, d.name) in {o.name for o in ordered}
                         or fed_by(project, d.name) is None)]
    return ordered


def fed_by(project: ProjectSpec, deployment: str) -> str | None:
    """The deployment whose version this one is promoted from; None for the first one."""
    (source,) = project.assets[deployment].spec.inputs
    return source if project.assets[source].spec.kind == "deploy" else None


def deployment_named(project: ProjectSpec, name: str | None) -> DeclaredAsset:
    """The deployment `name`; without a name, the first (the one each champion goes to)."""
    found = deployments(project)
    if not found:
        raise AssetbookError("the project declares no `deploy` asset")
    if name is None:
        return found[0]
    for declared in found:
        if declared.name == name:
            return declared
    raise AssetbookError(f"no deployment named '{name}'; the project has: "
                         f"{', '.join(d.name for d in found)}")


def deployer(state: StateFolder, project: ProjectSpec, name: str) -> Deployer:
    """The deployer of a `deploy` asset. $ASSETBOOK_SERVE_PORT moves the first deployment to
    that port and the others by as much, so environments keep their own ports."""
    spec = project.assets[name].spec
    assert isinstance(spec, DeployAssetSpec)
    port = spec.port
    if override := os.environ.get(PORT_ENV):
        lowest = min(d.spec.port for d in deployments(project))  # type: ignore[attr-defined]
        port = int(override) + spec.port - lowest
    return Deployer(serving_folder(state, name), port, bentoml_home(state),
                    Probe(spec.probe.path, spec.probe.body))


def stop_servers(project: ProjectSpec, state: StateFolder) -> dict[str, tuple[bool, int]]:
    """Stop every deployment's servers (and nginx in front of them); by deployment, whether
    nginx ran and how many bento servers served."""
    return {declared.name: deployer(state, project, declared.name).stop_all()
            for declared in deployments(project)}
