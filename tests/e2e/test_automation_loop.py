"""The daemon alone carries newly landed days to a new served model: the landing sensor turns
files into runs, the automation sensor launches everything below them, and once all is
settled its ticks launch nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assetbook.cli.commands import DEV_SUPERSEDED
from assetbook.resources.state import StateFolder
from tests.e2e.servers import (
    AUTOMATION_SENSOR,
    AUTOMATION_TAG,
    DATA,
    LANDING_SENSOR,
    artifacts_folder,
    automated,
    automation_reasons,
    deployments,
    event_timeline,
    land_days,
    materialized_since,
    python_warnings,
    runs_since,
    served_project,
    served_version,
    stage_table,
    stages,
    wait_for_ticks,
    wait_until_settled,
)
from tests.specs import speed_up

pytestmark = pytest.mark.usefixtures("shared_ray")  # searches join one Ray

MODEL = ("candidate_model", "champion", "bento", "deployment")
DELIVERY_TIMEOUT_S = 420  # 260 s measured on the 2-core machine, loaded (11 runs for 3 days)


@pytest.fixture
def served(project_dir: Path) -> Iterator[Path]:
    """The whole pipeline, search included, with cheap fits and a gate every candidate
    passes: this test is about what launches the runs, not about the model."""
    speed_up(project_dir, search=True)
    with served_project(project_dir, days=3) as project:
        yield project


@pytest.mark.slow
def test_landed_days_reach_a_new_served_model_through_the_sensors_alone(served: Path) -> None:
    before, deployed = served_version(served), len(deployments(served))
    started = time.time()
    with automated(served) as (url, instance):
        landing = land_days(served, 3)
        runs = wait_until_settled(url, instance, landing, "deployment", DELIVERY_TIMEOUT_S)
        timeline = stage_table(stages(landing, runs))
        print(f"\n{len(landing.keys)} days landed -> a new served model:\n{timeline}")
        (artifacts_folder() / "automation_loop_stages.txt").write_text(timeline + "\n")

        settled = time.time()
        quiet = wait_for_ticks(url, settled, 2)
        assert runs_since(instance, settled) == [], "a no-change tick launched a run"
        assert all(not tick["runIds"] for tick in quiet)

        every = runs_since(instance, started)
        assert {run.launched_by for run in every} == {LANDING_SENSOR, AUTOMATION_SENSOR}
        assert all(run.status == "SUCCESS" for run in every)
        assert all(run.tags.get(AUTOMATION_TAG) == "true" for run in every
                   if run.launched_by == AUTOMATION_SENSOR)
        for asset in DATA:  # exactly the new days: nothing landed earlier is recomputed
            assert materialized_since(instance, asset, started) == landing.keys, (
                f"{asset}, requested by automation:\n"
                f"{automation_reasons(instance, asset, started)}\nevents:\n"
                f"{event_timeline(instance, DATA, started)}")
        for asset in MODEL:
            assert materialized_since(instance, asset, landing.at), asset

    # the runs' steps print no library's notes (plain `dagster dev` points at `dg dev`)
    log = StateFolder.for_project(served).dagster_home / "dev.log"
    assert [line for line in python_warnings(log) if DEV_SUPERSEDED not in line] == []
    decision = json.loads(StateFolder.for_project(served).promotions.read_text()
                          .splitlines()[-1])
    assert decision["passed"]
    assert served_version(served) == decision["candidate"] != before
    # Only new models were deployed (eager may train twice if days arrive apart): the serving
    # one was never packaged and switched to again.
    versions = [int(d["model_version"]) for d in deployments(served)[deployed:]]
    assert versions == sorted(set(versions)) and min(versions) > int(before), versions
