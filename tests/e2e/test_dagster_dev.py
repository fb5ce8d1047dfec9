"""`assetbook dev` (`dagster dev` through workspace.yaml) serves the default pipeline's graph
to the UI, listening on the loopback only, prints no Python warnings, and stops on `kill` even
when started in the background."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from assetbook.resources.state import StateFolder
from tests.e2e.servers import assetbook_dev, graphql, python_warnings
from tests.ports import free_port
from tests.processes import group_members, listening

ASSET_NODES = """{ assetNodes { assetKey { path } dependencyKeys { path } isPartitioned
  opVersion automationCondition { label } hasAssetChecks } }"""
SENSORS = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  location { name } sensors { name sensorState { status } } } } } }"""


@pytest.mark.slow
def test_ui_lists_assets_dependencies_checks_and_running_sensors(project_dir: Path) -> None:
    port = free_port()
    with assetbook_dev(project_dir, port, in_background=True) as (url, pid):
        nodes = _wait_for_nodes(url)
        (repository,) = graphql(url, SENSORS)["repositoriesOrError"]["nodes"]
        sockets = listening({pid})
        os.kill(pid, signal.SIGTERM)  # `kill PID`: the UI, daemon and code servers stop too
        deadline = time.monotonic() + 90
        while group_members(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not group_members(pid), "SIGTERM did not stop `assetbook dev`"
    # Dagster's notes on Assetbook's own use of it (the relaunch job's backfill policies), and
    # on `dagster dev` itself, are no news to the user
    assert python_warnings(StateFolder.for_project(project_dir).root / "dev.log") == []
    # the UI, and the gRPC code server the daemon and UI talk to, on the loopback only
    assert ("127.0.0.1", port) in sockets
    assert {address for address, _ in sockets} == {"127.0.0.1"}, sockets
    assert repository["location"]["name"] == "assetbook"
    sensors = repository["sensors"]
    by_name = {node["assetKey"]["path"][0]: node for node in nodes}
    deps = {name: sorted(d["path"][0] for d in n["dependencyKeys"])
            for name, n in by_name.items()}
    assert deps == {
        "raw_applications": [], "validated_applications": ["raw_applications"],
        "features": ["validated_applications"], "drift_report": ["features"],
        "hyperparameters": ["drift_report", "features"],
        "candidate_model": ["drift_report", "features", "hyperparameters"],
        "evaluation_report": ["candidate_model", "features"],
        "champion": ["candidate_model", "evaluation_report"], "bento": ["champion"],
        "deployment": ["bento"],
    }
    partitioned = {name for name, node in by_name.items() if node["isPartitioned"]}
    assert partitioned == {"raw_applications", "validated_applications", "features",
                           "drift_report"}
    assert all(node["opVersion"] for node in nodes)
    assert by_name["hyperparameters"]["automationCondition"]["label"] == (
        "on cron 0 3 * * 1 or code changed or a check of drift_report failed")
    assert by_name["validated_applications"]["hasAssetChecks"]
    assert by_name["features"]["automationCondition"]["label"] == "eager or code changed"
    states = {s["name"]: s["sensorState"]["status"] for s in sensors}
    assert states == {"assetbook_automation": "RUNNING", "raw_applications_landing": "RUNNING",
                      "orphaned_runs": "RUNNING"}


def _wait_for_nodes(url: str) -> list[dict]:
    """The code location loads in its own process after the server answers."""
    for _ in range(120):
        nodes = graphql(url, ASSET_NODES)["assetNodes"]
        if nodes:
            return nodes
        time.sleep(0.5)
    raise AssertionError("the code location never loaded")
