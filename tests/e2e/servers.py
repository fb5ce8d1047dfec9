"""Start real servers on loopback for tests and benchmarks, and stop their whole process group;
drive a project through the `assetbook` command; read back what the daemon's runs did."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import dagster as dg
import httpx

from assetbook.resources.state import StateFolder
from tests.ports import free_port

# Commands of the environment under test, called by absolute path (what `make run` users see).
BIN = Path(sys.executable).parent
AUTOMATION_SENSOR = "assetbook_automation"
LANDING_SENSOR = "raw_applications_landing"
SENSOR_TAG, AUTOMATION_TAG = "dagster/sensor_name", "dagster/from_automation_condition"
DATA = ("raw_applications", "validated_applications", "features")  # partitioned by day
PROBE = {"application": {"salary": 85000.0, "commission": 0.0, "age": 45, "elevel": 2, "car": 4,
                         "zipcode": 3, "hvalue": 350000.0, "hyears": 12, "loan": 150000.0}}
T = TypeVar("T")
PYTHON_WARNING = re.compile(r"\S+\.py:\d+: \w*Warning: .*")  # as `warnings` prints one


def python_warnings(log: Path) -> list[str]:
    """The Python warnings in a server's log: noise in the terminal of `assetbook dev`."""
    return PYTHON_WARNING.findall(log.read_text())


@contextmanager
def dagster_dev(project: Path, home: Path, port: int,
                stop: signal.Signals = signal.SIGTERM) -> Iterator[str]:
    """`dagster dev` on the project's workspace.yaml; yields the base URL once it answers.
    Leaving sends `stop` to it and everything it started (SIGKILL: a crash, or a reboot)."""
    home.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h",
               "127.0.0.1", "-p", str(port)]
    with _server(command, project, {**os.environ, "DAGSTER_HOME": str(home)}, home / "dev.log",
                 port, stop) as (url, _):
        yield url


@contextmanager
def assetbook_dev(project: Path, port: int, in_background: bool = False
                  ) -> Iterator[tuple[str, int]]:
    """`assetbook dev`, as a user starts it (it becomes `dagster dev` with the project's own
    Dagster home); yields the base URL and the process id once it answers. `in_background`:
    as a script's `assetbook dev &` starts it, with SIGINT ignored."""
    log = StateFolder.for_project(project).root / "dev.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [str(BIN / "assetbook"), "dev", "--port", str(port)]
    with _server(command, project, dict(os.environ), log, port, signal.SIGTERM,
                 in_background) as server:
        yield server


@contextmanager
def _server(command: list[str], cwd: Path, env: Mapping[str, str], log_path: Path, port: int,
            stop: signal.Signals, in_background: bool = False) -> Iterator[tuple[str, int]]:
    log = log_path.open("w")
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if in_background
        else None)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/server_info", process, log_path)
        yield url, process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):  # the test stopped it already
            os.killpg(process.pid, stop)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout_s}s:\n{log.read_text()[-3000:]}")


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}},
                          timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def wait_for(check: Callable[[], T | None], timeout_s: float, what: Callable[[], str],
             interval_s: float = 2.0) -> T:
    """Poll `check` until it returns something; on timeout, fail with `what()` (the state)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (found := check()) is not None:
            return found
        time.sleep(interval_s)
    raise TimeoutError(f"not done after {timeout_s:.0f}s: {what()}")


def wait_for_assets(url: str, timeout_s: float = 90) -> list[dict]:
    """The asset nodes, once the code location (loaded in its own process) has them."""
    query = "{ assetNodes { assetKey { path } groupName } }"
    return wait_for(lambda: graphql(url, query)["assetNodes"] or None, timeout_s,
                    lambda: "the code location never loaded", interval_s=0.5)


def sensor_ticks(url: str, sensor: str, after: float) -> list[dict]:
    """Finished ticks of a sensor of the `assetbook` location after a time, oldest first."""
    query = """query($selector: SensorSelector!, $after: Float) { sensorOrError(
      sensorSelector: $selector) { ... on Sensor { sensorState { ticks(afterTimestamp: $after,
      limit: 100) { status timestamp runIds } } } } }"""
    selector = {"repositoryLocationName": "assetbook", "repositoryName": "__repository__",
                "sensorName": sensor}
    ticks = graphql(url, query, {"selector": selector, "after": after})[
        "sensorOrError"]["sensorState"]["ticks"]
    return sorted((t for t in ticks if t["status"] != "STARTED"), key=lambda t: t["timestamp"])


def wait_for_ticks(url: str, after: float, count: int, timeout_s: float = 90) -> list[dict]:
    """At least `count` finished ticks of the automation sensor after `after`."""
    return wait_for(lambda: ticks if len(ticks := sensor_ticks(url, AUTOMATION_SENSOR, after))
                    >= count else None, timeout_s, lambda: f"fewer than {count} ticks")


def artifacts_folder() -> Path:
    """Where tests keep what a person should look at afterwards (git-ignored)."""
    folder = Path(os.environ.get("ASSETBOOK_TEST_ARTIFACTS") or
                  Path(__file__).resolve().parents[2] / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- a project driven by the `assetbook` command and the daemon -------------------------------


def assetbook(project: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "assetbook"), "--project", str(project), *args],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"assetbook {' '.join(args)}:\n{result.stderr[-3000:]}"
    return result


def _deployment_record(project: Path) -> dict:
    """What serves and what served: `<state>/serving/deployment/deployment.json`."""
    path = StateFolder.for_project(project).root / "serving" / "deployment" / "deployment.json"
    return json.loads(path.read_text())


def deployments(project: Path) -> list[dict]:
    """Every deployment of the project, oldest first (what `assetbook rollback` reads)."""
    return _deployment_record(project)["history"]


@contextmanager
def served_project(project: Path, days: int) -> Iterator[Path]:
    """The project brought to a served model by `assetbook run`; `assetbook stop` at the end
    (the bento servers and nginx outlive the command)."""
    try:
        assetbook(project, "run", "--days", str(days))
        yield project
    finally:
        assetbook(project, "stop")


@contextmanager
def automated(project: Path, stop: signal.Signals = signal.SIGTERM,
              ) -> Iterator[tuple[str, dg.DagsterInstance]]:
    """`dagster dev` on the project's own Dagster home (the one `assetbook run` wrote to) and
    that instance, once the automation sensor has ticked: its first evaluation only seeds its
    cursor, so a day landing before it would never be picked up below the source."""
    home = StateFolder.for_project(project).dagster_home
    started = time.time()
    with (dagster_dev(project, home, free_port(), stop) as url,
          dg.DagsterInstance.from_config(str(home)) as instance):
        wait_for_ticks(url, started, 1)
        yield url, instance


def served_version(project: Path) -> str:
    """The model version the front answers with (asked, not read from a file)."""
    front = _deployment_record(project)["front_port"]
    response = httpx.post(f"http://127.0.0.1:{front}/predict", json=PROBE, timeout=30)
    response.raise_for_status()
    return response.json()["model_version"]


@dataclass(frozen=True)
class Landing:
    keys: list[str]
    at: float  # when the last file landed (its mtime)


def land_days(project: Path, days: int) -> Landing:
    """`assetbook simulate`: days land as a feed would drop them."""
    landed = assetbook(project, "simulate", "--days", str(days)).stdout
    keys = landed.strip().split(": ", 1)[1].split(", ")
    folder = StateFolder.for_project(project).landing(DATA[0])
    return Landing(keys, max((folder / f"{key}.parquet").stat().st_mtime for key in keys))


# -- what the runs did, read back from the instance -------------------------------------------


@dataclass(frozen=True)
class RunSpan:
    """One run as the instance recorded it: who launched it, what it materialized, when."""

    run_id: str
    assets: frozenset[str]
    tags: Mapping[str, str]
    status: str
    created: float
    started: float | None
    ended: float | None
    steps: Mapping[str, tuple[float, float | None]]  # step (asset) -> (start, end)

    @property
    def finished(self) -> bool:
        return self.status in ("SUCCESS", "FAILURE", "CANCELED")

    @property
    def launched_by(self) -> str:
        return self.tags.get(SENSOR_TAG) or self.tags.get("assetbook/launched_by", "manual")


def runs_since(instance: dg.DagsterInstance, since: float) -> list[RunSpan]:
    """Runs created after `since`, oldest first."""
    records = instance.get_run_records(dg.RunsFilter(
        created_after=datetime.fromtimestamp(since, UTC)))
    return sorted((RunSpan(
        run_id=r.dagster_run.run_id,
        assets=frozenset(k.to_user_string() for k in r.dagster_run.asset_selection or ()),
        tags=dict(r.dagster_run.tags), status=r.dagster_run.status.value,
        created=r.create_timestamp.timestamp(), started=r.start_time, ended=r.end_time,
        steps=_step_spans(instance, r.dagster_run.run_id)) for r in records),
        key=lambda run: run.created)


def _step_spans(instance: dg.DagsterInstance, run_id: str
                ) -> dict[str, tuple[float, float | None]]:
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
             dg.DagsterEventType.STEP_FAILURE}
    spans: dict[str, tuple[float, float | None]] = {}
    for entry in instance.all_logs(run_id, of_type=kinds):
        assert entry.step_key and entry.dagster_event
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            spans[entry.step_key] = (entry.timestamp, None)
        else:
            spans[entry.step_key] = (spans.get(entry.step_key, (entry.timestamp, None))[0],
                                     entry.timestamp)
    return spans


def materialized_since(instance: dg.DagsterInstance, asset: str, since: float) -> list[str]:
    """Partition keys materialized after `since`, one per materialization ("" if none)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_timestamp=since), limit=1000
    ).records
    return sorted(r.partition_key or "" for r in records)


def event_timeline(instance: dg.DagsterInstance, assets: Sequence[str], since: float) -> str:
    """The assets' planned and stored materializations since `since`, in storage order, each
    with its run (the launching sensor and the run's status): whether a partition that
    automation requested again was planned by a run still going when it was requested."""
    rows = []
    for asset in assets:
        key = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_timestamp=since)
        for kind, fetch in (("planned", instance.fetch_planned_materializations),
                            ("stored", instance.fetch_materializations)):
            rows += [(r.storage_id, r.timestamp, f"{asset} {r.partition_key} {kind}", r.run_id)
                     for r in fetch(key, limit=1000).records]
    runs = {run.run_id: run for run in instance.get_runs(
        dg.RunsFilter(run_ids=list({row[3] for row in rows})))} if rows else {}
    return "\n".join(
        f"#{storage_id} {at - since:.1f} s: {what} by {run_id[:8]} "
        f"({runs[run_id].tags.get(SENSOR_TAG, 'no sensor')}, "
        f"{runs[run_id].status.value})" if run_id in runs else f"#{storage_id}: {what}"
        for storage_id, at, what, run_id in sorted(rows))


def automation_reasons(instance: dg.DagsterInstance, asset: str, since: float) -> str:
    """Each automation evaluation of `asset` stored since `since`: its time, the partitions it
    requested, and for each of them the conditions that were true (what a failure about an
    unexpected run needs, and the daemon's log does not say)."""
    lines = []
    records = instance.schedule_storage.get_auto_materialize_asset_evaluations(  # type: ignore[union-attr]
        key=dg.AssetKey(asset), limit=100)
    with dg.partition_loading_context(datetime.now(UTC), instance):  # to read the subsets
        for record in sorted(records, key=lambda r: r.timestamp):
            if record.timestamp < since:
                continue
            evaluation = record.get_evaluation_with_run_ids().evaluation
            requested = _keys(evaluation.true_subset)
            lines.append(f"{record.timestamp - since:.1f} s: requested {sorted(requested) or '-'}")
            for key in sorted(requested):
                lines.extend(f"  {key or '(unpartitioned)'}: {label}"
                             for label in _true_conditions(evaluation, key))
    return "\n".join(lines)


def _keys(subset: object) -> set[str]:
    """The partition keys of a stored subset ("" for an unpartitioned asset's true one)."""
    value = subset.value  # type: ignore[attr-defined]
    if isinstance(value, bool):
        return {""} if value else set()
    return set(value.get_partition_keys())


def _true_conditions(evaluation: object, key: str, depth: int = 0) -> list[str]:
    """The labels of the nodes of the evaluation tree that were true for `key`, indented."""
    found = []
    if key in _keys(evaluation.true_subset):  # type: ignore[attr-defined]
        snapshot = evaluation.condition_snapshot  # type: ignore[attr-defined]
        found.append("  " * depth + (snapshot.label or snapshot.name or snapshot.description))
    for child in evaluation.child_evaluations:  # type: ignore[attr-defined]
        found.extend(_true_conditions(child, key, depth + 1))
    return found


def wait_until_settled(url: str, instance: dg.DagsterInstance, landing: Landing, final: str,
                       timeout_s: float) -> list[RunSpan]:
    """Wait until the landed days are in every data asset, `final` was materialized since, no
    run is left and an automation tick after the last run requested nothing: the daemon is
    done with the landing. Fails at once on a failed run. Returns the runs since the landing."""
    def settled() -> list[RunSpan] | None:
        runs = runs_since(instance, landing.at - 1)
        if failed := [f"{r.run_id} {sorted(r.assets)}" for r in runs if r.status == "FAILURE"]:
            raise AssertionError(f"runs failed (see their logs in the UI): {failed}")
        have = all(set(landing.keys) <= set(materialized_since(instance, a, landing.at - 1))
                   for a in DATA)
        if not (have and all(r.finished for r in runs)
                and any(final in r.assets and r.status == "SUCCESS" for r in runs)):
            return None
        last = max(r.ended or r.created for r in runs)
        quiet = [t for t in sensor_ticks(url, AUTOMATION_SENSOR, last) if not t["runIds"]]
        return runs if quiet else None

    def after(moment: float | None) -> str:
        return f"{moment - landing.at:.0f}" if moment else "-"

    def progress() -> str:
        return "\n".join(f"{r.status} {sorted(r.assets)} by {r.launched_by}: created, started, "
                         f"ended {after(r.created)}, {after(r.started)}, {after(r.ended)} s "
                         "after the landing" for r in runs_since(instance, landing.at - 1)
                         ) or "no run was launched"

    return wait_for(settled, timeout_s, progress)


# -- where the time went ----------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """Runs of the same assets, in the order the chain launched them; seconds."""

    name: str
    runs: int
    tick_s: float  # from the previous stage's end until a sensor queued the first run
    launch_s: float  # queued -> started: the run queue, a new process, the code location load
    run_s: float  # first started -> last ended
    end: float  # after the landing
    steps: tuple[tuple[str, float], ...] = ()  # of its last run: each step, and any gap


def stages(landing: Landing, runs: Sequence[RunSpan]) -> list[Stage]:
    """Where the time from a landing to the last run's end went: each hop of the chain waits
    for a sensor tick, then for its run to start, then runs."""
    groups: dict[frozenset[str], list[RunSpan]] = {}
    for run in runs:
        groups.setdefault(run.assets, []).append(run)
    result: list[Stage] = []
    for assets, chosen in groups.items():
        created = min(r.created for r in chosen) - landing.at
        started = min(r.started or r.created for r in chosen) - landing.at
        end = max(r.ended or r.created for r in chosen) - landing.at
        previous = result[-1].end if result else 0.0
        result.append(Stage(", ".join(sorted(assets)), len(chosen), max(0.0, created - previous),
                            started - created, end - started, end, _steps(chosen[-1])))
    return result


def _steps(run: RunSpan) -> tuple[tuple[str, float], ...]:
    """Each step's seconds in order; a gap between steps is a step process starting."""
    result: list[tuple[str, float]] = []
    last_end = None
    for step, (start, end) in sorted(run.steps.items(), key=lambda item: item[1][0]):
        if last_end is not None and start - last_end > 0.5:
            result.append(("(a step process starting)", start - last_end))
        result.append((step, (end or start) - start))
        last_end = end or start
    return tuple(result)


def stage_table(rows: Sequence[Stage]) -> str:
    """The stages, the steps of the one that ended last, and the share of ticks, launches and
    runs in the latency."""
    last = max(rows, key=lambda s: s.end)
    total = last.end
    lines = [f"{'stage (runs)':68s} {'tick s':>7s} {'launch s':>8s} {'run s':>6s} {'ends at':>8s}"]
    lines += [f"{f'{s.name} ({s.runs})':68s} {s.tick_s:7.1f} {s.launch_s:8.1f} "
              f"{s.run_s:6.1f} {s.end:8.1f}" for s in rows]
    lines += [f"    {step:64s} {'':7s} {'':8s} {seconds:6.1f}" for step, seconds in last.steps]
    ticks, launches = sum(s.tick_s for s in rows), sum(s.launch_s for s in rows)
    work = sum(seconds for step, seconds in last.steps if not step.startswith("("))
    lines.append(f"{'landing -> last run ended':68s} {ticks:7.1f} {launches:8.1f} "
                 f"{total - ticks - launches:6.1f} {total:8.1f}")
    lines.append(f"share: waiting for ticks {ticks / total:.0%}, launching runs "
                 f"{launches / total:.0%}, running {1 - (ticks + launches) / total:.0%} (the last "
                 f"stage's steps alone {work / total:.0%})")
    return "\n".join(lines)
