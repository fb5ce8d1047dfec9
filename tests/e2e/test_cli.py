"""`assetbook run` on a fresh copy of the default project, as a new user would run it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import BIN


def assetbook(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "assetbook"), "--project", str(project), *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def served(project_dir: Path):
    yield project_dir
    assetbook(project_dir, "stop")


@pytest.mark.slow
def test_run_goes_from_landing_to_a_served_answer_then_skips_what_is_done(
    served: Path
) -> None:
    project_dir = served
    first = assetbook(project_dir, "run", "--days", "3")
    assert first.returncode == 0, first.stderr
    assert "3 day(s) landed: 2024-01-01 .. 2024-01-03" in first.stdout
    assert "materialized raw_applications, validated_applications, features for 3 day(s)" in (
        first.stdout)
    assert ("materialized hyperparameters, candidate_model, evaluation_report, champion, "
            "bento, deployment") in first.stdout
    assert '"model_version": "1"}' in first.stdout.splitlines()[-1]  # the served answer
    state = project_dir / ".assetbook"
    assert (state / "reports" / "features" / "2024-01-01__2024-01-03.html").exists()
    assert sorted(p.name for p in (state / "artifacts" / "features").iterdir()) == [
        "2024-01-01.parquet", "2024-01-02.parquet", "2024-01-03.parquet"]

    again = assetbook(project_dir, "run", "--days", "3")
    assert "everything was already materialized" in again.stdout

    landed = assetbook(project_dir, "simulate", "--days", "1")
    assert landed.stdout.strip() == "landed 1 day(s): 2024-01-04"
    more = assetbook(project_dir, "run", "--days", "4")
    assert "for 1 day(s)" in more.stdout  # only the new day is computed
    assert "materialized candidate_model, evaluation_report" in more.stdout  # not the tuning

    with dg.DagsterInstance.from_config(str(state / "dagster")) as instance:
        assert len(instance.get_materialized_partitions(dg.AssetKey("features"))) == 4


def test_spec_error_is_reported_without_a_traceback(project_dir: Path) -> None:
    spec = project_dir / "assets" / "loans.yaml"
    spec.write_text(spec.read_text().replace("notebook: notebooks/", "notebok: notebooks/"))
    result = assetbook(project_dir, "run")
    assert result.returncode == 1
    assert "assetbook: error: assets/loans.yaml, asset 'features', field 'notebok'" in (
        result.stderr)
    assert "Traceback" not in result.stderr
