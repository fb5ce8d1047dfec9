"""`assetbook promote`, `rollback` and `serve`, and the answer `assetbook run` ends with
(`assetbook stop`: cli/stop.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import httpx

from assetbook.cli.pipeline import materialize_assets
from assetbook.cli.progress import RunProgress
from assetbook.cli.session import Session
from assetbook.errors import AssetbookError
from assetbook.graph.context import BuildContext
from assetbook.graph.serving import APPROVED_BY_TAG, served_model
from assetbook.kinds.package import PackageAssetSpec
from assetbook.kinds.package.served import resolve_served
from assetbook.kinds.promote.asset import ROLLBACK_RULE, append_decision, replaced_champion
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.store import read_frame
from assetbook.resources.tracking import CHAMPION, MlflowTracking
from assetbook.runners.serving.deployment import Deployer, Endpoint
from assetbook.runners.serving.environments import deployer, deployment_named, deployments, fed_by
from assetbook.runners.serving.processes import alive
from assetbook.spec.loader import DeclaredAsset


def _single(session: Session, kind: str) -> DeclaredAsset:
    found = [d for d in session.project.assets.values() if d.spec.kind == kind]
    if len(found) != 1:
        raise AssetbookError(f"expected one '{kind}' asset, found {len(found)}")
    return found[0]


def _deployer(session: Session, name: str | None = None) -> Deployer:
    """The deployer of the deployment `name`; by default the first, the champion's."""
    return deployer(session.state, session.project,
                    deployment_named(session.project, name).name)


def ask(session: Session) -> dict[str, Any]:
    """Send the served model one real row: the first of the latest stored partition of the
    validate asset its requests follow, the target column dropped. Returns the URL, the body
    sent and the answer."""
    package = _single(session, "package")
    assert isinstance(package.spec, PackageAssetSpec)
    served = resolve_served(session.project, package.name)
    stored = list(ArtifactIOManager(root=str(session.state.artifacts)).stored(
        dg.AssetKey(served.validate)).values())
    if not stored:
        raise AssetbookError(f"no partition of '{served.validate}' is stored yet: run "
                             "`assetbook run` first")
    frame = read_frame(stored[-1]).drop(columns=[served.target], errors="ignore").head(1)
    body = {package.spec.service.record: frame.to_dict(orient="records")[0]}  # ints stay ints
    url = f"{_deployer(session).url}/predict"
    response = httpx.post(url, json=body, timeout=30)
    response.raise_for_status()
    return {"url": url, "body": body, "answer": response.json()}


def promote(session: Session, environment: str, approved_by: str,
            progress: RunProgress | None = None) -> Endpoint:
    """Materialize the deployment `environment` (fed by another), recording the approver: it
    then serves what the deployment before it serves."""
    previous = fed_by(session.project, deployment_named(session.project, environment).name)
    if previous is None:
        raise AssetbookError(f"'{environment}' is the first deployment: each champion goes "
                             "there by itself; promote to a deployment fed by it")
    serving = _deployer(session, previous).active()
    if serving is None:
        raise AssetbookError(f"nothing to promote: '{previous}' serves nothing yet")
    here = _deployer(session, environment).active()
    if here and here.bento == serving.bento:
        raise AssetbookError(f"'{environment}' already serves v{serving.model_version}")
    materialize_assets(session, [environment], {APPROVED_BY_TAG: approved_by},
                       progress=progress)
    active = _deployer(session, environment).active()
    assert active is not None
    return active


def rollback(session: Session, environment: str | None = None, by: str = "") -> Endpoint:
    """In the first deployment: move the `champion` alias back to the champion the current
    one replaced when it was promoted (again: further back, never forward to what was rolled
    back from) and serve that version's bento again. In a later one: serve again the version
    it served before this one (its alias follows); the other deployments are left as they
    are."""
    name = deployment_named(session.project, environment).name
    if fed_by(session.project, name) is not None:
        return _rollback_environment(session, name, by)
    model = served_model(BuildContext(session.project, session.state), name)
    target = _deployer(session, name)
    registry = MlflowTracking.local(session.state.root, session.state.profile.mlflow)
    current = registry.alias_version(model, CHAMPION)
    if current is None:
        raise AssetbookError(f"{model} has no champion: nothing to roll back")
    previous = replaced_champion(session.state.promotions, model, current)
    if previous is None:
        raise AssetbookError(f"{model} has no earlier champion to roll back to: v{current} "
                             "was its first")
    served = [e for e in target.history() if e.model_version == previous]
    if not served:
        raise AssetbookError(f"no bento of {model} v{previous} was ever deployed here")
    endpoint = target.deploy(served[-1].bento, served[-1].model_version,
                             f"rollback from v{current} by {by}")
    registry.roll_back(model, current, previous)
    append_decision(session.state.promotions, {
        "at": datetime.now(UTC).isoformat(timespec="seconds"), "model": model,
        "candidate": previous, "champion": current, "passed": True,
        "rules": [f"{ROLLBACK_RULE} v{current} to v{previous}"], "days": [],
        "dagster_run_id": None})
    return endpoint


def _rollback_environment(session: Session, name: str, by: str) -> Endpoint:
    target = _deployer(session, name)
    active = target.active()
    if active is None:
        raise AssetbookError(f"'{name}' serves nothing: nothing to roll back")
    before = [e for e in target.history() if e.bento != active.bento]
    if not before:
        raise AssetbookError(f"'{name}' never served another version than "
                             f"v{active.model_version}")
    endpoint = target.deploy(before[-1].bento, before[-1].model_version,
                             f"rollback from v{active.model_version} by {by}")
    registry = MlflowTracking.local(session.state.root, session.state.profile.mlflow)
    registry.set_alias(served_model(BuildContext(session.project, session.state), name), name,
                       endpoint.model_version)
    return endpoint


def serve(session: Session) -> list[Endpoint]:
    """Start each recorded deployment again (after a reboot, or `assetbook stop`)."""
    started = []
    for declared in deployments(session.project):
        target = _deployer(session, declared.name)
        history = target.history()
        if not history:
            continue
        active = target.active() or history[-1]
        started.append(active if alive(active.pid) else target.deploy(
            active.bento, active.model_version, active.approved_by))
    if not started:
        raise AssetbookError("nothing was deployed yet: run `assetbook run` first")
    return started


def describe(endpoint: Endpoint) -> str:
    return json.dumps({"bento": endpoint.bento, "model_version": endpoint.model_version})
