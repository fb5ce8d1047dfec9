"""Profiles: which one is active, what a malformed one says, and what each field switches in the
state folder and the definitions (the services themselves: tests/e2e/test_shared_profile.py)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
import yaml
from upath import UPath

from assetbook.errors import SpecError
from assetbook.graph import build_definitions
from assetbook.resources.profile import PROFILE_ENV
from assetbook.resources.state import StateFolder
from assetbook.resources.tracking import MlflowTracking
from assetbook.spec.loader import load_project

SHARED = {"store": "s3://bucket/${TEAM}/loans", "postgres": "postgresql://ab@db:5432/dagster",
          "mlflow": "http://mlflow:5000", "ray": "ray-head:6379", "executor": "multiprocess",
          "environment": {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
          "dagster": {"run_launcher": {"module": "dagster_docker", "class": "DockerRunLauncher"}}}


@pytest.fixture
def profiled(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (project_dir / "profiles.yaml").write_text(yaml.safe_dump({"shared": SHARED}))
    monkeypatch.setenv("TEAM", "risk")
    # set, then removed: monkeypatch restores what the profile exports at the end
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    return project_dir


def test_without_a_profile_everything_is_in_the_state_folder(project_dir: Path) -> None:
    state = StateFolder.for_project(project_dir)
    assert state.profile.name == "embedded" and not state.profile.shared
    assert state.artifacts == state.root / "artifacts"
    home = state.prepare_dagster_home()
    assert "storage" not in yaml.safe_load((home / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 1


def test_a_profiles_run_coordinator_replaces_the_embedded_run_queue(
        project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dagster refuses an instance with both; the profile's coordinator is the one that runs."""
    coordinator = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator",
                   "config": {"max_concurrent_runs": 3}}
    (project_dir / "profiles.yaml").write_text(yaml.safe_dump(
        {"queued": {"dagster": {"run_coordinator": coordinator}}}))
    monkeypatch.setenv(PROFILE_ENV, "queued")
    home = StateFolder.for_project(project_dir).prepare_dagster_home()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 3
        assert instance.run_coordinator.dequeue_interval_seconds == 5


def test_a_shared_profile_moves_store_instance_tracking_and_executor(
        profiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE_ENV, "shared")
    state = StateFolder.for_project(profiled)
    assert isinstance(state.artifacts, UPath)
    assert str(state.report_path("features", "2024-01-01", ".html")) == (
        "s3://bucket/risk/loans/reports/features/2024-01-01.html")
    assert str(state.landing("raw")) == "s3://bucket/risk/loans/landing/raw"
    config = yaml.safe_load((state.prepare_dagster_home() / "dagster.yaml").read_text())
    assert config["storage"] == {"postgres": {
        "postgres_url": "postgresql+psycopg2://ab@db:5432/dagster"}}
    assert config["run_launcher"]["class"] == "DockerRunLauncher"
    assert config["telemetry"] == {"enabled": False}  # the embedded settings stay
    tracking = MlflowTracking.local(state.root, state.profile.mlflow)
    assert (tracking.tracking_uri, tracking.artifact_root) == ("http://mlflow:5000", "")
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"  # for what it starts

    defs = build_definitions(load_project(profiled), state)
    assert defs.executor is dg.multiprocess_executor


def test_one_field_is_overridden_from_the_environment(
        profiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE_ENV, "shared")
    monkeypatch.setenv("ASSETBOOK_STORE", "gs://other/loans")
    profile = StateFolder.for_project(profiled).profile
    assert (profile.store, profile.ray) == ("gs://other/loans", "ray-head:6379")


@pytest.mark.parametrize(("profiles", "chosen", "message"), [
    ({"shared": SHARED}, "staging", "profiles.yaml: no profile 'staging' ($ASSETBOOK_PROFILE); "
     "known: embedded, shared"),
    ({"shared": {**SHARED, "store": "s3://${UNSET_BUCKET}/x"}}, "shared",
     "profiles.yaml: profile 'shared' reads ${UNSET_BUCKET}, which is not set"),
    ({"shared": {**SHARED, "executor": "threads"}}, "shared",
     "profiles.yaml: profile 'shared': executor: Input should be 'in_process' or "
     "'multiprocess'"),
    ({"shared": {**SHARED, "stor": "s3://x"}}, "shared",
     "profiles.yaml: profile 'shared': stor: Extra inputs are not permitted"),
])
def test_a_bad_profile_is_named_with_its_fault(
        profiled: Path, monkeypatch: pytest.MonkeyPatch, profiles: dict, chosen: str,
        message: str) -> None:
    (profiled / "profiles.yaml").write_text(yaml.safe_dump(profiles))
    monkeypatch.setenv(PROFILE_ENV, chosen)
    monkeypatch.delenv("UNSET_BUCKET", raising=False)
    with pytest.raises(SpecError) as raised:
        StateFolder.for_project(profiled)
    assert str(raised.value) == message
