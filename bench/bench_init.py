"""From `assetbook init --data` to the first served answer, on 10 days of a bundled dataset
(scikit-learn's wine, multiclass), split by stage: the scaffold, then each asset's steps as
the Dagster instance recorded them, and what `assetbook run` spent around them (imports, run
launches, the served answer). Prints one line a stage and the total.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
from sklearn.datasets import load_wine

BIN = Path(sys.executable).parent
DAYS = 10


def land(folder: Path) -> None:
    frame = load_wine(as_frame=True).frame.sample(frac=1.0, random_state=0)
    folder.mkdir(parents=True)
    for day in range(DAYS):
        frame.iloc[day::DAYS].to_csv(folder / f"2024-01-{day + 1:02d}.csv", index=False)


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def step_seconds(home: Path) -> dict[str, float]:
    """Seconds per asset over every run: from its step's start to its end."""
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    seconds: dict[str, float] = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for record in instance.get_run_records():
            started: dict[str, float] = {}
            for entry in instance.all_logs(record.dagster_run.run_id, of_type=kinds):
                if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                    started[entry.step_key] = entry.timestamp
                elif entry.step_key in started:
                    seconds[entry.step_key] = seconds.get(entry.step_key, 0.0) + (
                        entry.timestamp - started[entry.step_key])
    return seconds


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-init-") as scratch:
        root, data = Path(scratch) / "wine", Path(scratch) / "days"
        land(data)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ASSETBOOK_") and k != "MLFLOW_TRACKING_URI"}
        init_s = timed([str(BIN / "assetbook"), "init", str(root), "--data", str(data),
                        "--target", "target"], Path(scratch), env)
        run_s = timed([str(BIN / "assetbook"), "run"], root, env)
        steps = step_seconds(root / ".assetbook" / "dagster")
        timed([str(BIN / "assetbook"), "stop"], root, env)
    print(f"init --data ({DAYS} days of wine) to the first served answer, by stage:")
    print(f"  {'assetbook init':32s} {init_s:7.1f} s")
    for step, seconds in steps.items():
        print(f"  {step:32s} {seconds:7.1f} s")
    around = run_s - sum(steps.values())
    print(f"  {'run: imports, launches, answer':32s} {around:7.1f} s")
    print(f"  {'total':32s} {init_s + run_s:7.1f} s")


if __name__ == "__main__":
    main()
