"""Notebook overhead: the features asset through Assetbook (the call `assetbook materialize`
makes) vs. the same transform (`project.features.make_features`, which the notebook calls) as
a plain script, for N days: one partition per run, and one ranged backfill in one kernel. For
the runs of one day, the features step alone too (from Dagster's step start to its success,
as the run's event log records them): the notebook's own overhead, without Dagster's run.
Measured twice: in runs of `features` alone, back to back in one process (each next day's
kernel starts during the day before's notebook, as `assetbook run`'s day-by-day fallback does),
and in runs of a landed day's chain up to features (raw, validated, features), each in a
process of its own that starts its kernel as it starts, as a landing's run does."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the loans example project

from project.features import make_features  # noqa: E402


def by_hand(inputs: list[Path], out: Path) -> float:
    started = time.perf_counter()
    for path in inputs:
        make_features(pd.read_parquet(path), True).to_parquet(out / path.name, index=False)
    return time.perf_counter() - started


def step_seconds(instance: dg.DagsterInstance, runs: int) -> list[float]:
    """How long the features step took in each of the last `runs` runs, by their event logs."""
    seconds = []
    for run in instance.get_runs(limit=runs):
        times = {entry.dagster_event.event_type_value: entry.timestamp
                 for entry in instance.all_logs(run.run_id) if entry.dagster_event
                 and entry.dagster_event.step_key == "features"}
        seconds.append(times["STEP_SUCCESS"] - times["STEP_START"])
    return seconds


def through_assetbook(root: Path, keys: list[str], ranged: bool) -> tuple[float, list[float]]:
    """The features notebook over `keys` as `assetbook materialize` runs it: one run over the
    range, or one run a day in one process (as the day-by-day fallback of `assetbook run`,
    which starts each next day's kernel during the day before's notebook). The whole time,
    and each run's features step."""
    from assetbook.cli.pipeline import materialize_assets
    from assetbook.cli.session import Session
    from assetbook.graph.internals import RANGE_END_TAG, RANGE_START_TAG

    session = Session(root)
    session.instance.add_dynamic_partitions("days", keys)
    whole = {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}
    materialize_assets(session, ["raw_applications", "validated_applications"], whole)
    started = time.perf_counter()
    if ranged:
        materialize_assets(session, ["features"], whole)
    else:
        for key in keys:
            materialize_assets(session, ["features"], {}, partition_key=key,
                               again=key != keys[-1])
    runs = 1 if ranged else len(keys)
    return time.perf_counter() - started, step_seconds(session.instance, runs)[::-1]


def landed_days(root: Path, keys: list[str]) -> list[float]:
    """Each day's chain up to features (raw, validated, features) in a process of its own, as a
    landing's run is one (`assetbook materialize ... --partition` of each day, one after the
    other): the features step of each."""
    from assetbook.cli.session import Session

    session = Session(root)
    session.instance.add_dynamic_partitions("days", keys)
    command = [str(Path(sys.executable).parent / "assetbook"), "materialize",
               "raw_applications", "validated_applications", "features", "--partition"]
    for key in keys:
        subprocess.run([*command, key], cwd=root, check=True, capture_output=True)
    return step_seconds(session.instance, len(keys))[::-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    from assetbook.runners.simulator import land_days
    from project.stream import LoanStream

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in ("assets", "notebooks", "bentos", "project"):
            shutil.copytree(REPO / folder, root / folder)
        os.environ["ASSETBOOK_STATE"] = str(root / ".assetbook")
        landing = root / ".assetbook" / "landing" / "raw_applications"
        files = land_days(landing, LoanStream(args.rows).generate,
                          pd.Timestamp("2024-01-01").date(), 2 * args.days)
        files, later = files[:args.days], files[args.days:]  # the later days land one by one
        keys = [p.stem for p in files]
        (root / "hand").mkdir()
        plain = by_hand(files, root / "hand")
        ranged, _ = through_assetbook(root, keys, ranged=True)
        shutil.rmtree(root / ".assetbook" / "artifacts" / "features")
        single, steps = through_assetbook(root, keys, ranged=False)
        chained = landed_days(root, [p.stem for p in later])
    print(f"features for {args.days} days x {args.rows:,} rows")
    print(f"  plain script            {plain:7.2f} s   1.0x")
    print(f"  assetbook, one range    {ranged:7.2f} s  {ranged / plain:5.1f}x  (one kernel)")
    print(f"  assetbook, per day      {single:7.2f} s  {single / plain:5.1f}x  "
          f"({single / args.days:.2f} s per day)")
    print(f"  ranged vs per day: {single / ranged:.1f}x faster")
    for what, seconds in (("a one-day run of features alone", steps),
                          ("a landed day's chain up to features", chained)):
        step = statistics.median(seconds)
        print(f"  the features step of {what}: median {step:.2f} s, "
              f"{step - plain / args.days:.2f} s more than the script's day "
              f"({', '.join(f'{s:.2f}' for s in seconds)} s)")


if __name__ == "__main__":
    main()
