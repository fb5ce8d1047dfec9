"""Start real servers on loopback for tests and benchmarks, and stop their whole process group;
drive a project through the `assetbook` command; read back what the daemon's runs did."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import dagster as dg
import httpx

from project.resources.state import StateFolder

# Commands of the environment under test, called by absolute path (what `make run` users see).
BIN = Path(sys.executable).parent
AUTOMATION_SENSOR = "assetbook_automation"
SENSOR_TAG, AUTOMATION_TAG = "dagster/sensor_name", "dagster/from_automation_condition"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def dagster_dev(project: Path, home: Path, port: int) -> Iterator[str]:
    """`dagster dev` on the project's workspace.yaml; yields the base URL once it answers."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(home), "ASSETBOOK_PROJECT": str(project)}
    log = (home / "dev.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
         "-p", str(port)],
        cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/server_info", process, home / "dev.log")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
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


def artifacts_folder() -> Path:
    """Where tests keep what a person should look at afterwards (git-ignored)."""
    folder = Path(os.environ.get("ASSETBOOK_TEST_ARTIFACTS") or
                  Path(__file__).resolve().parents[2] / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- the `assetbook` command ------------------------------------------------------------------


def assetbook(project: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "assetbook"), "--project", str(project), *args],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"assetbook {' '.join(args)}:\n{result.stderr[-3000:]}"
    return result


def served_version(project: Path) -> str:
    """The model version the front answers with (asked, not read from a file)."""
    state = StateFolder.for_project(project)
    record = json.loads((state.root / "serving" / "deployment.json").read_text())
    body = {"application": {"salary": 85000.0, "commission": 0.0, "age": 45, "elevel": 2,
                            "car": 4, "zipcode": 3, "hvalue": 350000.0, "hyears": 12,
                            "loan": 150000.0}}
    response = httpx.post(f"http://127.0.0.1:{record['front_port']}/predict", json=body,
                          timeout=30)
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
    folder = StateFolder.for_project(project).landing("raw_applications")
    return Landing(keys, max((folder / f"{key}.parquet").stat().st_mtime for key in keys))


# -- what the daemon's runs did ---------------------------------------------------------------


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


def _step_spans(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float | None]]:
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
             dg.DagsterEventType.STEP_FAILURE}
    spans: dict[str, tuple[float, float | None]] = {}
    for entry in instance.all_logs(run_id, of_type=kinds):
        assert entry.step_key and entry.dagster_event
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            spans[entry.step_key] = (entry.timestamp, None)
        else:
            spans[entry.step_key] = (spans[entry.step_key][0], entry.timestamp)
    return spans


def materialized_since(instance: dg.DagsterInstance, asset: str, since: float) -> list[str]:
    """Partition keys materialized after `since`, one per materialization ("" if none)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_timestamp=since), limit=1000
    ).records
    return sorted(r.partition_key or "" for r in records)


def wait_for_delivery(instance: dg.DagsterInstance, landing: Landing, data: Iterable[str],
                      final: str, timeout_s: float) -> list[RunSpan]:
    """Wait until the landed days are in every `data` asset, `final` was materialized after
    them and no run is left; fails at once on a failed run. Returns the runs since landing."""
    def delivered() -> list[RunSpan] | None:
        runs = runs_since(instance, landing.at - 1)
        if failed := [f"{r.run_id} {sorted(r.assets)}" for r in runs if r.status == "FAILURE"]:
            raise AssertionError(f"runs failed (see their logs in the UI): {failed}")
        have = all(set(landing.keys) <= set(materialized_since(instance, a, landing.at - 1))
                   for a in data)
        finals = [r for r in runs if final in r.assets and r.status == "SUCCESS"]
        last_data = max((r.ended or 0 for r in runs if r.assets & set(data)), default=0)
        done = have and any((r.ended or 0) > last_data for r in finals)
        return runs if done and all(r.finished for r in runs) else None

    def progress() -> str:
        return "\n".join(f"{r.status} {sorted(r.assets)} by {r.launched_by}: created, started, "
                         f"ended {_after(r.created)}, {_after(r.started)}, {_after(r.ended)} s "
                         "after the landing" for r in runs_since(instance, landing.at - 1)
                         ) or "no run was launched"

    def _after(moment: float | None) -> str:
        return f"{moment - landing.at:.0f}" if moment else "-"

    return wait_for(delivered, timeout_s, progress)


@dataclass(frozen=True)
class Stage:
    name: str
    start: float  # seconds after the landing
    end: float


def stages(landing: Landing, runs: list[RunSpan], data: list[str], final: str) -> list[Stage]:
    """Where the time from a landed day to the new model serving went: the sensor's pickup,
    the data runs, the launch of the model run and each of its steps."""
    def span(name: str, chosen: list[RunSpan]) -> Stage:
        return Stage(name, min(r.started or r.created for r in chosen) - landing.at,
                     max(r.ended or r.created for r in chosen) - landing.at)

    by_asset = [[r for r in runs if asset in r.assets] for asset in data]
    first = min(r.created for r in by_asset[0])
    model = [r for r in runs if final in r.assets][-1]
    assert model.started is not None and model.ended is not None
    steps = sorted(model.steps.items(), key=lambda item: item[1][0])
    result = [Stage("sensor pickup (landing -> first run queued)", 0.0, first - landing.at)]
    result += [span(f"{asset} runs ({len(chosen)})", chosen)
               for asset, chosen in zip(data, by_asset, strict=True)]
    result.append(Stage("model run queued and started", result[-1].end,
                        model.started - landing.at))
    result.append(Stage("model run process start (code load)", model.started - landing.at,
                        steps[0][1][0] - landing.at))
    result += [Stage(f"  step {step}", start - landing.at, (end or start) - landing.at)
               for step, (start, end) in steps]
    result.append(Stage("total: landing -> new model serving", 0.0, model.ended - landing.at))
    return result


def stage_table(rows: list[Stage]) -> str:
    total = rows[-1].end
    lines = [f"{'stage':48s} {'from s':>7s} {'to s':>7s} {'takes s':>8s} {'of total':>8s}"]
    lines += [f"{s.name:48s} {s.start:7.1f} {s.end:7.1f} {s.end - s.start:8.1f} "
              f"{(s.end - s.start) / total:8.0%}" for s in rows]
    return "\n".join(lines)
