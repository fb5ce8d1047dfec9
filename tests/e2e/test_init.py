"""`assetbook init`, then the new project's own first command and `assetbook status` in it, as
a new user would type them: from inside the folder, with no setting pointing at this repo."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import BIN
from tests.e2e.servers import free_port


@dataclass(frozen=True)
class Scaffolded:
    root: Path
    env: dict[str, str]
    init: subprocess.CompletedProcess
    run: subprocess.CompletedProcess


def assetbook(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "assetbook"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scaffolded]:
    """One scaffold and one first run, shared: the run is most of the time of this module."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ASSETBOOK_STATE", "ASSETBOOK_PROJECT", "MLFLOW_TRACKING_URI",
                        "DAGSTER_HOME")}
    env["ASSETBOOK_SERVE_PORT"] = str(free_port())
    parent = tmp_path_factory.mktemp("init")
    root = parent / "my-loans"
    init = assetbook(parent, env, "init", "my-loans")
    try:
        run = assetbook(root, env, "run", "--days", "3") if init.returncode == 0 else init
        yield Scaffolded(root, env, init, run)
    finally:
        assetbook(root, env, "stop")


@pytest.mark.slow
def test_init_makes_a_project_whose_first_command_ends_with_a_served_answer(
    scaffolded: Scaffolded
) -> None:
    init, root = scaffolded.init, scaffolded.root
    assert init.returncode == 0, init.stderr
    for path in ("assets/loans.yaml", "notebooks/features.ipynb", "notebooks/evaluation.ipynb",
                 "bentos/loans/service.py", "bentos/loans/bentofile.yaml", "workspace.yaml",
                 "pyproject.toml", "README.md", ".gitignore",
                 ".github/workflows/assetbook-ci.yml"):
        assert f"  {path}\n" in init.stdout
        assert (root / path).is_file()
    assert init.stdout.rstrip().endswith("next: cd my-loans && assetbook run")
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert pyproject["name"] == "my-loans"
    assert pyproject["dependencies"][0].startswith("assetbook")
    assert (root / ".gitignore").read_text() == ".assetbook/\n"

    run = scaffolded.run
    assert run.returncode == 0, run.stderr
    assert "3 day(s) landed: 2024-01-01 .. 2024-01-03" in run.stdout
    assert "materialized raw_applications, validated_applications, features, drift_report " \
           "for 3 day(s)" in run.stdout
    assert ("materialized hyperparameters, candidate_model, evaluation_report, champion, "
            "bento, deployment") in run.stdout
    assert f"state folder: {root / '.assetbook'}" in run.stdout
    assert '"model_version": "1"}' in run.stdout.splitlines()[-1]  # the served answer
    state = root / ".assetbook"
    assert (state / "reports" / "features" / "2024-01-01__2024-01-03.html").exists()
    assert sorted(p.name for p in (state / "artifacts" / "features").iterdir()) == [
        "2024-01-01.parquet", "2024-01-02.parquet", "2024-01-03.parquet"]


@pytest.mark.slow
def test_status_after_the_first_run(scaffolded: Scaffolded) -> None:
    assert scaffolded.run.returncode == 0, scaffolded.run.stderr
    table = assetbook(scaffolded.root, scaffolded.env, "status")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["asset", "last", "materialized", "partitions", "freshness",
                                "data"]
    features = next(line for line in lines if line.startswith("features "))
    assert features.split()[3:] == ["3/3", "PASS", "fresh"]
    assert "model loans_classifier: champion v1" in lines
    assert any(line.startswith("deployment: v1 (") for line in lines)

    # --project from elsewhere reads the same project; --json is the same data for machines.
    machine = assetbook(scaffolded.root.parent, scaffolded.env, "--project", "my-loans",
                        "status", "--json")
    assert machine.returncode == 0, machine.stderr
    status = json.loads(machine.stdout)
    assets = {a["name"]: a for a in status["assets"]}
    assert {a["data"] for a in assets.values()} == {"fresh"}
    assert all(a["last_materialized"] for a in assets.values())
    assert assets["features"]["partitions"] == {"materialized": 3, "total": 3, "failed": [],
                                                "stale": []}
    assert assets["features"]["freshness"] == "PASS"
    assert assets["champion"]["freshness"] == "PASS"
    assert assets["candidate_model"]["freshness"] is None
    assert status["models"] == [{"name": "loans_classifier", "champion": "1"}]
    (served,) = status["served"]
    assert (served["asset"], served["model_version"], served["running"]) == (
        "deployment", "1", True)


@pytest.mark.slow
def test_a_second_run_skips_what_is_done_and_a_new_day_computes_only_that_day(
    scaffolded: Scaffolded
) -> None:
    """After the status test: it adds a day to the shared project."""
    root, env = scaffolded.root, scaffolded.env
    assert scaffolded.run.returncode == 0, scaffolded.run.stderr
    again = assetbook(root, env, "run", "--days", "3")
    assert "everything was already materialized" in again.stdout

    landed = assetbook(root, env, "simulate", "--days", "1")
    assert landed.stdout.strip() == "landed 1 day(s): 2024-01-04"
    landing = root / ".assetbook" / "landing" / "raw_applications"
    (landing / "2024-01-05.csv").write_bytes(b"")  # a broken day beside the good one
    more = assetbook(root, env, "run", "--days", "5", "--no-serve")  # serving: tested above
    assert "for 1 day(s)" in more.stdout  # only the new good day is computed
    assert "materialized candidate_model, evaluation_report" in more.stdout  # not the tuning
    assert more.returncode == 1  # ... and the broken day is reported, by name
    assert "assetbook: day 2024-01-05 failed and was left out" in more.stderr
    assert "it is empty (0 bytes)" in more.stderr
    with dg.DagsterInstance.from_config(str(root / ".assetbook" / "dagster")) as instance:
        assert instance.get_materialized_partitions(dg.AssetKey("features")) == {
            "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"}


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = assetbook(tmp_path, dict(os.environ), "init", ".")
    assert result.returncode == 1
    assert result.stderr == (f"assetbook: error: {tmp_path} is not an empty folder: choose a "
                             "new path, `assetbook init` never overwrites\n")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_spec_error_is_reported_without_a_traceback(project_dir: Path) -> None:
    spec = project_dir / "assets" / "loans.yaml"
    spec.write_text(spec.read_text().replace("notebook: notebooks/", "notebok: notebooks/"))
    result = assetbook(project_dir, dict(os.environ), "run")
    assert result.returncode == 1
    assert "assetbook: error: assets/loans.yaml, asset 'features', field 'notebok'" in (
        result.stderr)
    assert "Traceback" not in result.stderr
