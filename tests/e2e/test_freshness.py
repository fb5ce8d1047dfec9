"""Freshness drives a refresh for real: under `assetbook dev`, Dagster's freshness daemon
marks an asset WARN once its warn window has passed, and the automation sensor re-runs it,
once, without anyone asking."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import nbformat
import pytest

from assetbook.resources.state import StateFolder
from tests.conftest import build_defs, write_spec
from tests.e2e.servers import (
    AUTOMATION_SENSOR,
    AUTOMATION_TAG,
    assetbook_dev,
    graphql,
    python_warnings,
    runs_since,
    wait_for,
)
from tests.ports import free_port

SPEC = """
pipeline: fresh
assets:
  daily_summary:
    kind: notebook
    notebook: notebooks/summary.ipynb
    freshness: {warn_after: 1m, fail_after: 1d}
"""
SUMMARY = """
import pandas as pd
for partition in partitions:
    pd.DataFrame({"at": [pd.Timestamp.now()]}).to_parquet(partition["output"])
"""
FRESHNESS = """{ assetNodes { assetKey { path } freshnessStatusInfo { freshnessStatus } } }"""


@pytest.mark.slow
def test_the_freshness_daemon_turns_warn_and_the_automation_refreshes(
    project_dir: Path,
) -> None:
    for old in (project_dir / "assets").iterdir():
        old.unlink()
    write_spec(project_dir, SPEC, "fresh.yaml")
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("partitions = []\nconfig = {}",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(SUMMARY)]), project_dir / "notebooks" / "summary.ipynb")
    home = StateFolder.for_project(project_dir).prepare_dagster_home()
    defs = build_defs(project_dir)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert dg.materialize(list(defs.assets), instance=instance,
                              resources=defs.resources).success
        materialized_at = time.time()
        with assetbook_dev(project_dir, free_port()) as (url, _):
            warned_at = wait_for(lambda: time.time() if _status(url) == "WARNING" else None,
                                 240, lambda: f"freshness is {_status(url)}", interval_s=2)
            refresh = wait_for(lambda: _finished_refresh(instance, materialized_at), 240,
                               lambda: f"runs: {runs_since(instance, materialized_at)}")
            wait_for(lambda: _status(url) == "HEALTHY" or None, 120,  # fresh again
                     lambda: f"freshness is {_status(url)}", interval_s=2)
            once = [r.run_id for r in runs_since(instance, materialized_at)]
            assert once == [refresh.run_id]  # one refresh, not one every tick
    # the refresh's step gave its output a data version (a beta parameter): not the user's note
    assert python_warnings(StateFolder.for_project(project_dir).root / "dev.log") == []
    assert warned_at - materialized_at >= 60  # not before the warn window had passed
    assert refresh.created >= warned_at - 5  # launched because of the WARN
    assert refresh.status == "SUCCESS"
    assert refresh.tags.get("dagster/sensor_name") == AUTOMATION_SENSOR
    assert refresh.tags.get(AUTOMATION_TAG) == "true"


def _status(url: str) -> str | None:
    nodes = graphql(url, FRESHNESS)["assetNodes"]
    info = next((n["freshnessStatusInfo"] for n in nodes
                 if n["assetKey"]["path"] == ["daily_summary"]), None)
    return info["freshnessStatus"] if info else None


def _finished_refresh(instance: dg.DagsterInstance, since: float):
    runs = [r for r in runs_since(instance, since) if "daily_summary" in r.assets]
    return runs[0] if runs and runs[0].finished else None
