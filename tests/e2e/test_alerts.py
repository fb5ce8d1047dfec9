"""Alerts under `assetbook dev`, to a real webhook receiver on 127.0.0.1: a day failing its
schema check, a run whose notebook raises, and an asset whose freshness turns FAIL each send
exactly one message naming the asset, the partition and the reason (a run the automation
tries again is a second event, and a second message); a good day sends none;
a webhook that refuses a message gets it again on a later tick, and only once it is taken.
On a user's own data: pump readings, not the loans example."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import nbformat
import pandas as pd
import pytest

from assetbook.graph.alerts import ALERTS_SENSOR
from assetbook.resources.state import StateFolder
from tests.conftest import build_defs, write_spec
from tests.e2e.servers import assetbook_dev, sensor_ticks, wait_for
from tests.ports import free_port

SPEC = """
pipeline: plant
partitions:
  days: {type: dynamic}
  months: {type: monthly, start: 2024-01-01}
assets:
  readings:
    kind: source
    partitions: days
    source: {type: landing, formats: [csv]}
  checked_readings:
    kind: validate
    partitions: days
    inputs: {readings: same}
    checks: [{schema: plant_checks:Readings}]
  pump_report:
    kind: notebook
    partitions: days
    notebook: notebooks/report.ipynb
    inputs: {checked_readings: same}
  summary:                # materialized once: FAIL a minute later, and it stays FAIL
    kind: notebook
    partitions: months
    notebook: notebooks/summary.ipynb
    automation: {type: manual}
    freshness: {fail_after: 1m}
"""
CHECKS = """
import pandera.pandas as pa
from pandera.typing import Series


class Readings(pa.DataFrameModel):
    pump: Series[str]
    pressure: Series[float] = pa.Field(ge=0, le=20)
"""
REPORT = """
import pandas as pd
for partition in partitions:
    (path,) = partition["inputs"]["checked_readings"]
    readings = pd.read_parquet(path)
    if len(readings) < 3:
        raise ValueError(f"only {len(readings)} readings on {partition['key']}: need 3")
    readings.groupby("pump").mean().to_parquet(partition["output"])
"""
SUMMARY = """
import pandas as pd
pd.DataFrame({"at": [pd.Timestamp.now()]}).to_parquet(partitions[0]["output"])
"""
DAYS = {"2024-03-01": [1.5, 2.0, 2.5, 3.0],  # good
        "2024-03-02": [1.5, -4.0, 2.5, 3.0],  # a negative pressure: fails its check
        "2024-03-03": [1.5, 2.0]}  # valid, too few for the report: the run fails


class Receiver(ThreadingHTTPServer):
    """A webhook on 127.0.0.1 that keeps every message it takes, and refuses the first
    `refuse` requests with a 503."""

    def __init__(self, refuse: int) -> None:
        self.taken: list[dict] = []
        self.refused = 0
        self.refuse = refuse
        super().__init__(("127.0.0.1", free_port()), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/assetbook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.server.refused < self.server.refuse:
            self.server.refused += 1
            self.send_response(503)
        else:
            self.server.taken.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(refuse=1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def write_plant(root: Path) -> None:
    for old in (root / "assets").iterdir():
        old.unlink()
    write_spec(root, SPEC, "plant.yaml")
    (root / "plant_checks.py").write_text(CHECKS)
    for name, source in (("report", REPORT), ("summary", SUMMARY)):
        nbformat.write(nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell("partitions = []\nconfig = {}",
                                      metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(source)]), root / "notebooks" / f"{name}.ipynb")


@pytest.mark.slow
def test_each_failure_sends_one_message_with_its_asset_partition_and_reason(
        project_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    write_plant(project_dir)
    monkeypatch.setenv("ASSETBOOK_WEBHOOK", receiver.url)
    state = StateFolder.for_project(project_dir)
    home = state.prepare_dagster_home()
    defs = build_defs(project_dir)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert dg.materialize([defs.get_assets_def("summary")], instance=instance,
                              resources=defs.resources, partition_key="2024-01-01").success
    with assetbook_dev(project_dir, free_port()) as (url, _):
        started = time.time() - 60
        wait_for(lambda: sensor_ticks(url, ALERTS_SENSOR, started) or None, 90,
                 lambda: "the alerts sensor has not ticked")
        landing = state.landing("readings")
        landing.mkdir(parents=True, exist_ok=True)
        for day, pressures in DAYS.items():
            pd.DataFrame({"pump": [f"p{i % 2}" for i in range(len(pressures))],
                          "pressure": pressures}).to_csv(landing / f"{day}.csv", index=False)
        wait_for(lambda: {m["event"] for m in receiver.taken} >= {
            "check_failed", "run_failed", "freshness_failed"} or None, 240,
            lambda: f"messages so far: {receiver.taken}")
        time.sleep(25)  # two more ticks of the sensor: nothing is sent twice

    with dg.DagsterInstance.from_config(str(home)) as instance:
        failed = {run.run_id: run.asset_selection or set() for run in instance.get_runs(
            dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))}
    by_event: dict[str, list[dict]] = {}
    for message in receiver.taken:
        by_event.setdefault(message["event"], []).append(message)
    assert receiver.refused == 1  # the first message was refused, then sent again
    (check,) = by_event["check_failed"]
    assert (check["asset"], check["partition"]) == ("checked_readings", "2024-03-02")
    assert check["run_id"] in failed
    assert "pressure" in check["reason"] and "greater_than_or_equal_to(0)" in check["reason"]
    # every other failed run of the report is one event, one message (the automation may try
    # the day again, or run it with the check in one run); the check's run is not sent again
    reports = [run_id for run_id, assets in failed.items()
               if dg.AssetKey("pump_report") in assets and run_id != check["run_id"]]
    runs = by_event["run_failed"]
    assert sorted(run["run_id"] for run in runs) == sorted(reports)
    for run in runs:
        assert (run["asset"], run["partition"]) == ("pump_report", "2024-03-03")
        assert "only 2 readings on 2024-03-03: need 3" in run["reason"]
    (freshness,) = by_event["freshness_failed"]
    assert freshness["asset"] == "summary"
    assert set(by_event) == {"check_failed", "run_failed", "freshness_failed"}
    assert all(m["text"].startswith(f":rotating_light: {project_dir.name}: ")
               for m in receiver.taken)
