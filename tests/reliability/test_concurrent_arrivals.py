"""Concurrent arrivals: many days landing at once are each requested exactly once, and two
runs writing the same partition at the same time leave one whole writer's file, never a mix
or a truncated one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import nbformat
import pandas as pd

from assetbook.resources.state import StateFolder
from project.stream import LoanStream
from tests.conftest import build_defs, land, write_spec
from tests.reliability.ledger import Ledger

AREA = "concurrent arrivals"
SENSOR = "raw_applications_landing"
AT_ONCE = 8


def tick(defs: dg.Definitions, instance: dg.DagsterInstance,
         cursor: str | None) -> dg.SensorResult:
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as context:
        return defs.get_sensor_def(SENSOR)(context)


def added(result: dg.SensorResult) -> list[str]:
    return [key for request in result.dynamic_partitions_requests or []
            for key in request.partition_keys or []]


def test_days_landing_at_once_are_each_requested_once(
    project_dir: Path, instance: dg.DagsterInstance, ledger: Ledger
) -> None:
    defs = build_defs(project_dir)
    keys = land(project_dir, AT_ONCE, rows=20)
    first = tick(defs, instance, None)
    repeated = tick(defs, instance, None)  # a tick whose cursor was never stored runs again
    requested = [r.partition_key for r in first.run_requests]
    ledger.record(AREA, cases=AT_ONCE, faults=1, data_lost=len(set(keys) - set(requested)))

    assert sorted(requested) == keys
    run_keys = [r.run_key for r in first.run_requests]
    assert len(set(run_keys)) == AT_ONCE
    # the same files give the same run keys, which Dagster launches once
    assert [r.run_key for r in repeated.run_requests] == run_keys
    assert added(first) == added(repeated) == keys

    for result in (first, repeated):  # what the daemon does with each tick's request
        instance.add_dynamic_partitions("days", added(result))
    assert list(instance.get_dynamic_partitions("days")) == keys
    after = tick(defs, instance, first.cursor)
    assert after.run_requests == [] and added(after) == []


def test_a_relanded_day_is_requested_again_once_and_not_added_twice(
    project_dir: Path, instance: dg.DagsterInstance, state: StateFolder, ledger: Ledger
) -> None:
    """A corrected file replaces a landed day: one new run for it, no new partition."""
    defs = build_defs(project_dir)
    keys = land(project_dir, AT_ONCE, rows=20)
    first = tick(defs, instance, None)
    instance.add_dynamic_partitions("days", added(first))
    path = state.landing("raw_applications") / f"{keys[3]}.parquet"
    LoanStream(rows_per_partition=20, seed=8).generate(keys[3]).to_parquet(path)
    ledger.record(AREA, faults=1)

    again = tick(defs, instance, first.cursor)
    assert [r.partition_key for r in again.run_requests] == [keys[3]]
    assert again.run_requests[0].run_key not in {r.run_key for r in first.run_requests}
    assert added(again) == []


RACE_SPEC = """
pipeline: race
partitions:
  days: {type: daily, start: 2024-01-01, end: 2024-01-03}
assets:
  stamped:
    kind: notebook
    partitions: days
    notebook: notebooks/stamped.ipynb
    config: {copies: COPIES}
"""
# Each run writes a frame of its own (a random writer id on every row, big enough that a
# write takes a while) to its output, and a copy of it beside, named after its process.
STAMPED = """
import os, uuid
import numpy as np, pandas as pd
for partition in partitions:
    rows = 300_000
    frame = pd.DataFrame({"writer": [uuid.uuid4().hex] * rows, "x": np.random.rand(rows)})
    frame.to_parquet(partition["output"])
    frame.to_parquet(os.path.join(config["copies"], f"{os.getpid()}.parquet"))
"""
RUN = """
import sys
import dagster as dg
from assetbook.graph import definitions_for
defs = definitions_for(sys.argv[1])
with dg.DagsterInstance.from_config(sys.argv[2]) as instance:
    result = dg.materialize(list(defs.assets), selection=["stamped"], instance=instance,
                            partition_key="2024-01-01", resources=defs.resources)
sys.exit(0 if result.success else 1)
"""


def test_two_runs_of_one_partition_never_interleave_their_writes(
    project_dir: Path, state: StateFolder, ledger: Ledger
) -> None:
    """Two real Dagster runs, in two processes, materialize one partition at the same time:
    the stored partition is one run's whole frame, and nothing temporary is left."""
    copies = project_dir / "copies"
    copies.mkdir()
    for old in (project_dir / "assets").iterdir():
        old.unlink()
    write_spec(project_dir, RACE_SPEC.replace("COPIES", str(copies)), "race.yaml")
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("partitions = []\nconfig = {}",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(STAMPED)]), project_dir / "notebooks" / "stamped.ipynb")
    home = state.prepare_dagster_home()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_run_records(limit=1)  # its SQLite schema, made once, not by both runs
    runs = [subprocess.Popen([sys.executable, "-c", RUN, str(project_dir), str(home)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    written = [pd.read_parquet(path) for path in sorted(copies.iterdir())]
    assert len(written) == 2 and written[0]["writer"][0] != written[1]["writer"][0]
    stored = pd.read_parquet(state.artifacts / "stamped" / "2024-01-01.parquet")
    whole = [stored.equals(frame) for frame in written]
    ledger.record(AREA, cases=2, faults=1, data_lost=int(not any(whole)))
    assert whole.count(True) == 1  # exactly one writer's frame, never a mix
    assert [p.name for p in (state.artifacts / "stamped").iterdir()] == ["2024-01-01.parquet"]
    assert not list((state.root / "staging").rglob("*.parquet"))
