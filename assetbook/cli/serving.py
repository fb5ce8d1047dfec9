"""`assetbook rollback`, `serve` and `stop`, and the answer `assetbook run` ends with."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pandas as pd

from assetbook.cli.session import Session
from assetbook.errors import AssetbookError
from assetbook.graph.context import BuildContext
from assetbook.graph.delivery import append_decision, registered_name
from assetbook.graph.serving import deployer
from assetbook.resources.tracking import MlflowTracking
from assetbook.runners.serving.deployment import Deployer, Endpoint, alive
from assetbook.spec import DeclaredAsset
from assetbook.spec.models import DeployAssetSpec, PromoteAssetSpec


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
    """Send the served model one application of the latest validated day."""
    target = _deployer(session)
    latest = sorted((session.state.artifacts / "validated_applications").glob("*.parquet"))
    frame = pd.read_parquet(latest[-1]).drop(columns=["label"]).head(1)
    application = frame.to_dict(orient="records")[0]  # keeps ints as ints, per column
    response = httpx.post(f"{target.url}/predict", json={"application": application},
                          timeout=30)
    response.raise_for_status()
    return {"url": f"{target.url}/predict", "application": application,
            "answer": response.json()}


def rollback(session: Session) -> Endpoint:
    """Move the `champion` alias back to `previous` and serve that version's bento again."""
    promote = _single(session, "promote")
    assert isinstance(promote.spec, PromoteAssetSpec)
    ctx = BuildContext(session.project, session.state)
    model_input = next(n for n in promote.spec.inputs
                       if session.project.assets[n].spec.kind == "train")
    name = registered_name(ctx, model_input)
    target = _deployer(session)
    registry = MlflowTracking.local(session.state.root)
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
