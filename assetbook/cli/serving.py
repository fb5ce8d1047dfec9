"""`assetbook rollback`, `serve` and `stop`, and the answer `assetbook run` ends with."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import httpx

from assetbook.cli.session import Session
from assetbook.errors import AssetbookError
from assetbook.graph.context import BuildContext
from assetbook.graph.serving import deployer
from assetbook.graph.training import registered_name
from assetbook.kinds.deploy import DeployAssetSpec
from assetbook.kinds.package import PackageAssetSpec
from assetbook.kinds.package.served import resolve_served
from assetbook.kinds.promote import PromoteAssetSpec
from assetbook.kinds.promote.asset import append_decision
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.store import read_frame
from assetbook.resources.tracking import MlflowTracking
from assetbook.runners.serving.deployment import Deployer, Endpoint, alive
from assetbook.spec.loader import DeclaredAsset


def _single(session: Session, kind: str) -> DeclaredAsset:
    found = [d for d in session.project.assets.values() if d.spec.kind == kind]
    if len(found) != 1:
        raise AssetbookError(f"expected one '{kind}' asset, found {len(found)}")
    return found[0]


def _deployer(session: Session) -> Deployer:
    spec = _single(session, "deploy").spec
    assert isinstance(spec, DeployAssetSpec)
    return deployer(session.state, spec)


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


def rollback(session: Session) -> Endpoint:
    """Move the `champion` alias back to `previous` and serve that version's bento again."""
    promote = _single(session, "promote")
    assert isinstance(promote.spec, PromoteAssetSpec)
    ctx = BuildContext(session.project, session.state)
    model_input = next(n for n in promote.spec.inputs
                       if session.project.assets[n].spec.kind == "train")
    name = registered_name(ctx, model_input)
    target = _deployer(session)
    registry = MlflowTracking.local(session.state.root, session.state.profile.mlflow)
    previous = registry.alias_version(name, "previous")
    served = [e for e in target.history() if e.model_version == previous]
    if not served:
        raise AssetbookError(f"no bento of {name} v{previous} was ever deployed here")
    endpoint = target.deploy(served[-1].bento, served[-1].model_version)
    current, restored = registry.rollback(name)
    append_decision(session.state.promotions, {
        "at": datetime.now(UTC).isoformat(timespec="seconds"), "model": name,
        "candidate": restored, "champion": current, "passed": True,
        "rules": [f"rollback from v{current} to v{restored}"], "days": [],
        "dagster_run_id": None})
    return endpoint


def serve(session: Session) -> Endpoint:
    """Start the recorded deployment again (after a reboot, or `assetbook stop`)."""
    target = _deployer(session)
    history = target.history()
    if not history:
        raise AssetbookError("nothing was deployed yet: run `assetbook run` first")
    active = target.active() or history[-1]
    if alive(active.pid):
        return active
    return target.deploy(active.bento, active.model_version)


def stop(session: Session) -> None:
    _deployer(session).stop_all()


def describe(endpoint: Endpoint) -> str:
    return json.dumps({"bento": endpoint.bento, "model_version": endpoint.model_version})
