"""The continuous-training loop, measured side by side in one run on one project:

(a) latency from a landed day to the new model answering, by stage, under `dagster dev` (the
    landing sensor's pickup, the data runs, the model run's launch and each of its steps),
    for several days landed one after the other: where a day lands in the sensors' tick
    cycles is chance, so one landing measures luck as much as the framework;
(b) the cost of a new day as history grows: day N+1 after N = 7, 30 and 90 days, in process as
    `assetbook run` does it, and what it recomputes (the new day's partitions, the window
    models, never the history);
(c) a no-change automation tick: `evaluate_automation_conditions` on the materialized graph,
    its time and the runs it requests (none).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from assetbook.cli.output import command_output
from assetbook.cli.pipeline import run_pipeline
from assetbook.cli.session import Session
from assetbook.cli.simulate import simulate
from assetbook.graph import definitions_for
from assetbook.resources.state import STATE_ENV, StateFolder

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the helpers the end-to-end tests drive `dagster dev` with
from tests.e2e.servers import (  # noqa: E402
    DATA,
    Stage,
    assetbook,
    automated,
    free_port,
    land_days,
    materialized_since,
    runs_since,
    served_project,
    stage_table,
    stages,
    wait_until_settled,
)

# It measures cost, not the model: no drift within its days, a gate that no small day's noise
# refuses (every step then runs the same assets), and a short search (never on the measured
# path: tuning runs weekly or on a drift).
SPEC_EDITS = {r"rows: \d+": "rows: {rows}",
              r"drift_day: [\d-]+": "drift_day: 2030-01-01",
              r"margin: [\d.]+": "margin: 0.5",
              r"num_samples: \d+": "num_samples: 2"}


@dataclass(frozen=True)
class DayCost:
    history: int
    wall_s: float
    materialized: dict[str, int]  # asset -> partitions materialized for the new day
    step_s: dict[str, float]  # asset -> seconds of its step


def new_project(folder: Path, rows: int) -> Path:
    """`assetbook init`, with the bench's spec edits."""
    root = folder / "proj"
    assetbook(folder, "init", str(root))
    spec = root / "assets" / "loans.yaml"
    text = spec.read_text()
    for pattern, replacement in SPEC_EDITS.items():
        text, count = re.subn(pattern, replacement.format(rows=rows), text)
        assert count == 1, f"{pattern} matched {count} times in {spec}"
    spec.write_text(text)
    return root


def daemon_latency(root: Path, days: int, landings: int, timeout_s: float) -> list[list[Stage]]:
    """(a): a model served after `days` days, then `dagster dev`; then `landings` days land,
    each once the daemon is done with the one before."""
    result = []
    with served_project(root, days), automated(root) as (url, instance):
        for _ in range(landings):
            landing = land_days(root, 1)
            result.append(stages(landing, wait_until_settled(url, instance, landing,
                                                             "deployment", timeout_s)))
    return result


def latency_summary(latencies: list[list[Stage]]) -> str:
    """Each landing's latency and its ticks, and the median landing's stages in full."""
    def total(stages: list[Stage]) -> float:
        return max(s.end for s in stages)

    ranked = sorted(latencies, key=total)
    median = ranked[len(ranked) // 2]
    each = ", ".join(f"{total(s):.1f} s (ticks {sum(t.tick_s for t in s):.1f})"
                     for s in latencies)
    return (f"each landing: {each}\nmedian {total(median):.1f} s; its stages:\n"
            f"{stage_table(median)}")


def quiet_tick(root: Path) -> tuple[int, float, float, int]:
    """(c): days materialized, seconds of a first (cursor-seeding) and of a no-change
    evaluation, and the runs the latter requested."""
    defs = definitions_for(root)
    home = StateFolder.for_project(root).dagster_home
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # Dagster's tester passes a beta parameter of its own (`include_sources`) each call
        warnings.filterwarnings("ignore", category=dg.BetaWarning)
        started = time.perf_counter()
        seed = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        seeded = time.perf_counter()
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                  cursor=seed.cursor)
        days = len(instance.get_materialized_partitions(dg.AssetKey(DATA[0])))
        return days, seeded - started, time.perf_counter() - seeded, again.total_requested


def new_day_cost(session: Session, history: int, rows: int) -> DayCost:
    """(b): bring the history to `history` days (not measured), land one more day and time
    `assetbook run`'s in-process path on it, its third-party output (Ray Tune's tables) in the
    project's logs as `run` keeps it."""
    with command_output(session.state.root / "logs", "bench-loop"):
        run_pipeline(session, history, rows, serve=False)
        simulate(session, 1, rows=rows)
        started, clock = time.time(), time.perf_counter()
        run_pipeline(session, history + 1, rows, serve=False)
        wall = time.perf_counter() - clock
    steps = {step: (end or start) - start for run in runs_since(session.instance, started)
             for step, (start, end) in run.steps.items()}
    return DayCost(history, wall, {asset: len(materialized_since(session.instance, asset, started))
                                   for asset in session.project.assets}, steps)


def cost_table(costs: list[DayCost]) -> str:
    head = f"{'':26s}" + "".join(f"{f'N={c.history}':>16s}" for c in costs)
    lines = [head, "partitions materialized for day N+1 (seconds of its step):"]
    for asset in costs[0].materialized:
        lines.append(f"  {asset:24s}" + "".join(
            f"{c.materialized[asset]:>7d} ({c.step_s.get(asset, 0):5.1f} s)" for c in costs))
    base = costs[0].wall_s
    lines.append(f"{'wall time of day N+1':26s}" + "".join(f"{c.wall_s:>14.1f} s" for c in costs))
    lines.append(f"{'ratio to N=' + str(costs[0].history):26s}"
                 + "".join(f"{c.wall_s / base:>15.2f}x" for c in costs))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000, help="rows per simulated day")
    parser.add_argument("--days", type=int, default=5, help="days served before (a)")
    parser.add_argument("--landings", type=int, default=3,
                        help="days landed one after the other in (a); the median counts")
    parser.add_argument("--histories", type=int, nargs="+", default=[7, 30, 90])
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds for each landing of (a)")
    args = parser.parse_args()
    os.environ.pop(STATE_ENV, None)  # the project's own .assetbook
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["ASSETBOOK_SERVE_PORT"] = str(free_port())
    with tempfile.TemporaryDirectory() as tmp:
        root = new_project(Path(tmp), args.rows)
        latencies = daemon_latency(root, args.days, args.landings, args.timeout)
        small = quiet_tick(root)
        session = Session(root)
        costs = [new_day_cost(session, n, args.rows) for n in args.histories]
        large = quiet_tick(root)
    print(f"(a) a day of {args.rows} rows landed -> the new model answering, under "
          f"`dagster dev` ({args.days} days before the first):\n"
          f"{latency_summary(latencies)}\n")
    print(f"(b) cost of a new day as history grows ({args.rows} rows a day, in process):\n"
          f"{cost_table(costs)}\n")
    print("(c) a no-change automation tick (evaluate_automation_conditions):")
    for days, seed, quiet, requested in (small, large):
        print(f"  {days:3d} days materialized: first evaluation {seed:5.2f} s, no-change "
              f"evaluation {quiet:5.2f} s ({quiet / seed:.2f}x), runs requested: {requested}")


if __name__ == "__main__":
    main()
