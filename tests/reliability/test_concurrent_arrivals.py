"""Concurrent arrivals: many days landing at once are each requested exactly once, and two
runs writing the same partition at the same time leave one whole writer's file, never a mix
or a truncated one."""

from __future__ import annotations

import threading
from pathlib import Path

import dagster as dg
import pandas as pd

from assetbook.graph.context import BuildContext
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.state import StateFolder
from assetbook.spec import ProjectSpec
from project.stream import LoanStream
from tests.conftest import build_defs, land
from tests.reliability.ledger import Ledger

AREA = "concurrent arrivals"
SENSOR = "raw_applications_landing"
AT_ONCE = 8
WRITES = 15  # per writer
ASSET = dg.AssetKey("validated_applications")


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


def test_two_runs_of_one_partition_never_interleave_their_writes(
    state: StateFolder, ledger: Ledger
) -> None:
    """Two writers store different frames under one key while a reader keeps reading it:
    every read is one writer's whole frame, and no temporary file is left."""
    store = ArtifactIOManager(root=str(state.artifacts))
    frames = [LoanStream(rows_per_partition=5000, seed=seed).generate("2024-01-01")
              for seed in (1, 2)]
    final = store.path_for(ASSET, "2024-01-01", ".parquet")
    store.handle_output(dg.build_output_context(asset_key=ASSET), {"2024-01-01": frames[0]})
    done = threading.Event()
    reads: list[bool] = []

    def write(frame: pd.DataFrame) -> None:
        for _ in range(WRITES):
            store.handle_output(dg.build_output_context(asset_key=ASSET), {"2024-01-01": frame})

    def read() -> None:
        while not done.is_set():
            try:
                stored = pd.read_parquet(final)
            except Exception:  # a half-written file: what a direct write shows most reads
                reads.append(False)
                continue
            reads.append(any(stored.equals(frame) for frame in frames))

    writers = [threading.Thread(target=write, args=(frame,)) for frame in frames]
    reader = threading.Thread(target=read)
    for thread in (reader, *writers):
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()

    torn = reads.count(False)
    writes = len(frames) * WRITES
    ledger.record(AREA, cases=writes, faults=writes, data_lost=torn)
    assert reads and torn == 0
    assert any(pd.read_parquet(final).equals(frame) for frame in frames)
    assert [p.name for p in final.parent.iterdir()] == [final.name]


def test_two_runs_of_one_partition_stage_apart(spec: ProjectSpec, state: StateFolder) -> None:
    """A notebook's output is staged under its run's id, so two runs never share a file."""
    ctx = BuildContext(spec, state)
    paths = {ctx.staging_path("features", run_id, "2024-01-01", ".parquet")
             for run_id in ("3f2a9c1e-0000", "b71d04aa-0000")}
    assert len(paths) == 2
