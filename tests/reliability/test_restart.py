"""Restart: stopping `dagster dev` (webserver, daemon and code server together) while the runs
of newly landed days are in flight, then starting it again, loses no landed day: within a
bounded wait each has its raw, validated and features partition, from the sensors alone.
Stopped two ways: SIGTERM (an operator's stop), and SIGKILL of every process, run workers
included (a crash): those runs stay STARTED until the orphaned-runs sensor fails them and the
run retries of dagster.yaml launch them again.

The project is cut to its data assets (no models), so the runs are the ones that matter here.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from assetbook.resources.state import StateFolder
from tests.e2e.servers import DATA, automated, land_days, wait_for
from tests.reliability.ledger import Ledger

pytestmark = pytest.mark.slow

DAYS = 3
SETTLE_TIMEOUT_S = 300
PARTITION = "dagster/partition"


def data_only(project: Path) -> None:
    """Keep the data assets of the default spec; the model assets would only add runs."""
    spec_file = project / "assets" / "loans.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["assets"] = {name: asset for name, asset in spec["assets"].items() if name in DATA}
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))


def missing(instance: dg.DagsterInstance, keys: list[str]) -> dict[str, list[str]]:
    """Per data asset, the landed days it has no partition of."""
    result = {}
    for asset in DATA:
        done = instance.get_materialized_partitions(dg.AssetKey(asset))
        if gaps := [key for key in keys if key not in done]:
            result[asset] = gaps
    return result


def in_flight(instance: dg.DagsterInstance) -> list[str] | None:
    """Runs started and not finished."""
    records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    return [record.dagster_run.run_id for record in records] or None


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_restarted_dagster_loses_no_landed_day(project_dir: Path, ledger: Ledger,
                                               stop: signal.Signals) -> None:
    data_only(project_dir)
    StateFolder.for_project(project_dir).prepare_dagster_home()
    with automated(project_dir, stop) as (_, instance):
        landing = land_days(project_dir, DAYS)
        wait_for(lambda: in_flight(instance), 120, lambda: "no run of the landed days started",
                 interval_s=0.5)
    # leaving the block stopped dagster dev, with those runs in flight
    restarted = time.time()

    with automated(project_dir) as (_, instance):
        interrupted = [r for r in instance.get_run_records() if r.create_timestamp.timestamp()
                       < restarted and r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
        assert interrupted, "the stop interrupted no run: nothing was tested"

        def progress() -> str:
            runs = "\n".join(f"{r.dagster_run.status.value} {r.dagster_run.tags.get(PARTITION)}"
                             f" {[k.to_user_string() for k in r.dagster_run.asset_selection or ()]}"
                             for r in instance.get_run_records())
            return f"missing {missing(instance, landing.keys)}; runs:\n{runs}"

        try:
            wait_for(lambda: None if missing(instance, landing.keys) else True,
                     SETTLE_TIMEOUT_S, progress)
        finally:
            lost = {key for keys in missing(instance, landing.keys).values() for key in keys}
            ledger.record(f"restart ({stop.name})", cases=len(landing.keys),
                          faults=len(interrupted), data_lost=len(lost))
