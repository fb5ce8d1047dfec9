"""Live performance closes the loop under `assetbook dev`: labels that agree with the served
answers leave the model alone; labels that flip after a drift day fail the live check, and
the automation daemon launches the retraining the spec names (`on_failed_checks`), which
registers a new model version. Everything after the first training is the daemon's work: the
landing sensor reads the labels, the automation runs the live asset, then the training.
The answers were served on a past day and their labels land later, as labels do.
A pump-state classifier of a user's own, not the loans example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from assetbook.graph.sensors import AUTOMATION_SENSOR
from assetbook.resources.state import StateFolder
from tests.conftest import build_defs, write_spec
from tests.e2e.servers import assetbook_dev, runs_since, sensor_ticks, wait_for, wait_for_ticks
from tests.ports import free_port
from tests.recorded import Request, record
from tests.specs import live_performance, source

TODAY = datetime.now(UTC).date()  # Dagster's days are UTC's
DAYS = [(TODAY - timedelta(days=1)).isoformat(), TODAY.isoformat()]  # the training window
SERVED_ON = DAYS[0]  # a past day, never the latest, even once midnight has passed
SPEC = """
pipeline: pumps
partitions:
  days: {type: daily, start: 2026-01-01, end_offset: 1}
assets:""" + source("readings", "days", "{type: landing, formats: [csv]}") + """
  pump_model:
    kind: train
    inputs: {readings: {mapping: window, size: 2}}
    model: assetbook.models:TabularNet
    target: state
    task: binary
    trainer: {max_epochs: 1, batch_size: 64}
    register_as: pump_model
    automation: {type: manual, on_failed_checks: [live_performance]}""" + live_performance("days")
ANSWERED = 40


def pumps(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pressure = rng.normal(2.0, 0.6, rows)
    return pd.DataFrame({"pressure": pressure, "temperature": rng.normal(60, 5, rows),
                         "state": np.where(pressure > 2.0, "stalled", "ok")})


def land(state: StateFolder, source: str, day: str, frame: pd.DataFrame) -> None:
    folder = state.landing(source)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{day}.csv", index=False)


def versions(state: StateFolder) -> list[str]:
    client = MlflowClient(f"sqlite:///{state.root / 'mlflow.db'}")
    return sorted(str(v.version) for v in client.search_model_versions("name='pump_model'"))


@pytest.mark.slow
def test_a_live_drop_launches_retraining_and_good_labels_do_not(project_dir: Path) -> None:
    for old in (project_dir / "assets").iterdir():
        old.unlink()
    write_spec(project_dir, SPEC, "pumps.yaml")
    state = StateFolder.for_project(project_dir)
    for number, day in enumerate(DAYS):
        land(state, "readings", day, pumps(300, number))
    served = pumps(ANSWERED, 7)
    record(project_dir / "served", [Request(
        [row], [{"label": label, "probabilities": {"ok": 0.5, "stalled": 0.5},
                 "model_version": "1"}], 0.002, request)
        for request, (row, label) in enumerate(zip(
            served[["pressure", "temperature"]].to_dict("records"), served["state"],
            strict=True))], day=SERVED_ON)
    home = state.prepare_dagster_home()
    defs = build_defs(project_dir)
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the first model, by hand
        for day in DAYS:
            assert dg.materialize([defs.get_assets_def(name) for name in ("readings",
                                                                          "predictions")],
                                  instance=instance, resources=defs.resources,
                                  partition_key=day).success
        assert dg.materialize(list(defs.assets), instance=instance, resources=defs.resources,
                              selection=["pump_model"]).success
    assert versions(state) == ["1"]
    truth = pd.DataFrame({"request_id": range(ANSWERED), "row": 0, "state": served["state"]})

    with assetbook_dev(project_dir, free_port()) as (url, _), \
            dg.DagsterInstance.from_config(str(home)) as instance:
        started = wait_for(lambda: (sensor_ticks(url, AUTOMATION_SENSOR, 0) or [None])[-1],
                           120, lambda: "the automation sensor has not ticked")["timestamp"]

        def judged(since: float) -> list:
            return [r for r in runs_since(instance, since) if "live_performance" in r.assets
                    and r.finished] or None

        land(state, "labels", SERVED_ON, truth)  # the answers were right
        (good,) = wait_for(lambda: judged(started), 180, lambda: str(runs_since(
            instance, started)))
        assert good.status == "SUCCESS"
        assert _latest_check(instance).passed
        wait_for_ticks(url, good.ended, 3, 120)  # settled: good labels retrain nothing
        assert not [r for r in runs_since(instance, started) if "pump_model" in r.assets]

        flipped = truth.assign(state=truth["state"].map({"ok": "stalled", "stalled": "ok"}))
        land(state, "labels", SERVED_ON, flipped)  # after a drift day: every answer is wrong
        wait_for(lambda: judged(good.ended), 180, lambda: str(runs_since(instance, started)))
        check = _latest_check(instance)
        assert not check.passed and "accuracy 0.0000 < minimum 0.7" in check.description
        retrained = wait_for(lambda: [r for r in runs_since(instance, good.ended)
                                      if "pump_model" in r.assets and r.finished] or None,
                             300, lambda: str(runs_since(instance, good.ended)))

    assert [r.status for r in retrained] == ["SUCCESS"]
    assert retrained[0].launched_by == AUTOMATION_SENSOR
    assert versions(state) == ["1", "2"]


def _latest_check(instance: dg.DagsterInstance) -> dg.AssetCheckEvaluation:
    record = instance.get_latest_asset_check_evaluation_record(
        dg.AssetCheckKey(dg.AssetKey("live_performance"), "live_thresholds"))
    assert record is not None and record.evaluation is not None
    return record.evaluation
