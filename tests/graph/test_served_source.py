"""The `served` source: a day of what the served model recorded, read back from BentoML's
monitoring log (the records written by the real monitor, in a process of their own as in a
server); only daily partitions make sense for it, and others are refused by name; a drift
asset scores the inputs served that day against the days the model learned from. Sensor
readings of a user's own, not the loans example."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assetbook.data.served import served_day
from assetbook.errors import SpecError
from assetbook.resources.state import StateFolder
from assetbook.serving.recording import MONITOR
from tests.conftest import build_defs, write_spec
from tests.recorded import Refusal, Request, record
from tests.specs import source


def test_a_day_reads_back_what_the_server_recorded_that_day(tmp_path: Path) -> None:
    today = record(tmp_path, [Request(
        [{"pump": "p1", "pressure": 1.5}, {"pump": "p2", "pressure": 2.5}],
        [{"label": "ok", "probabilities": {"ok": 0.9, "stalled": 0.1}, "model_version": "3"},
         {"label": "stalled", "probabilities": {"ok": 0.2, "stalled": 0.8},
          "model_version": "3"}], 0.004)])
    (log,) = (tmp_path / MONITOR / "data").glob("data.*.log")
    # a rotated file of an earlier day beside it, as BentoML's daily rotation leaves it
    (log.parent / f"{log.name}.2024-05-01").write_text(
        log.read_text().replace(f'"timestamp": "{today}', '"timestamp": "2024-05-01'))

    day = served_day(tmp_path, today)

    assert day["pump"].tolist() == ["p1", "p2"]
    assert day["prediction"].tolist() == ["ok", "stalled"]
    assert day["probability_stalled"].tolist() == [0.1, 0.8]
    assert set(day["model_version"]) == {"3"} and set(day["latency_ms"]) == {4.0}
    assert day["request_id"].nunique() == 1 and "trace_id" not in day
    assert len(served_day(tmp_path, "2024-05-01")) == 2
    assert served_day(tmp_path, "2024-05-02").empty
    assert served_day(tmp_path, today, "refusals").empty


def test_refused_requests_read_back_apart_from_the_answers(tmp_path: Path) -> None:
    """A refusal between two answers: each kind of record reads back alone, the answers'
    integer field still integers."""
    answer = {"label": "ok", "probabilities": {"ok": 0.9, "stalled": 0.1}, "model_version": "3"}
    record(tmp_path, [Request([{"pump": "p1", "cycles": 12}], [answer], 0.004, 1)], [
        Refusal("/predict", 400, "cycles: Input should be a valid integer", "3")])
    day = record(tmp_path, [Request([{"pump": "p2", "cycles": 13}], [answer], 0.004, 3)],
                 day="2026-03-14")  # both calls on one day, midnight or not

    answered = served_day(tmp_path, day)
    refused = served_day(tmp_path, day, "refusals")

    assert answered["cycles"].tolist() == [12, 13] and answered["cycles"].dtype == "int64"
    assert "http_status" not in answered and answered["row"].tolist() == [0, 0]
    assert refused.to_dict("records") == [{
        "timestamp": refused["timestamp"][0], "request_id": "1", "endpoint": "/predict",
        "http_status": 400, "reason": "cycles: Input should be a valid integer",
        "model_version": "3"}]


def test_a_served_source_with_other_than_daily_partitions_is_refused(project_dir: Path) -> None:
    write_spec(project_dir, """
pipeline: pumps
partitions:
  days: {type: dynamic}
assets:
  answered:
    kind: source
    partitions: days
    source: {type: served}
""")
    with pytest.raises(SpecError, match="asset 'answered', field 'partitions': a `served` "
                                        "source is partitioned by day"):
        build_defs(project_dir)


SERVED_DRIFT = """
pipeline: pumps
partitions:
  days: {type: dynamic}
  served_days: {type: daily, start: 2026-01-01, end_offset: 1}
assets:""" + source("readings", "days", "{type: landing, formats: [csv]}") + source(
    "predictions", "served_days", "{type: served, folder: served}") + """
  served_drift:
    kind: drift
    partitions: served_days
    inputs: {predictions: same}
    reference_asset: readings
    reference: 3
    threshold: 0.1
"""


def pressures_served(mean: float) -> list[Request]:
    """300 single-row requests of a regression model's API."""
    rng = np.random.default_rng(1)
    return [Request([{"pump": "p1", "pressure": float(rng.normal(mean, 0.5)),
                      "flow": float(rng.normal(10, 1))}], [{"value": 1.0, "model_version": "2"}],
                    0.001, request) for request in range(300)]


@pytest.mark.parametrize(("mean", "drifted"), [(2.0, []), (3.5, ["pressure"])])
def test_a_days_served_inputs_are_scored_against_the_days_the_model_learned_from(
        project_dir: Path, instance: dg.DagsterInstance, mean: float, drifted: list[str]
) -> None:
    write_spec(project_dir, SERVED_DRIFT)
    state = StateFolder.for_project(project_dir)
    landing = state.landing("readings")
    landing.mkdir(parents=True)
    rng = np.random.default_rng(0)
    days = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    for number, day in enumerate(days):  # the oldest day, shifted, is outside the reference
        pd.DataFrame({"pump": "p1", "pressure": rng.normal(3.5 if number == 0 else 2.0, 0.5,
                                                           300),
                      "flow": rng.normal(10, 1, 300), "state": "ok"}).to_csv(
            landing / f"{day}.csv", index=False)
    served_on = record(project_dir / "served", pressures_served(mean), day="2026-11-05")
    defs = build_defs(project_dir)
    instance.add_dynamic_partitions("days", days)
    for day in days:
        assert dg.materialize([defs.get_assets_def("readings")], instance=instance,
                              resources=defs.resources, partition_key=day).success

    result = dg.materialize([defs.get_assets_def(name) for name in ("predictions",
                                                                     "served_drift")],
                            instance=instance, resources=defs.resources, partition_key=served_on)

    table = pd.read_parquet(state.artifacts / "served_drift" / f"{served_on}.parquet")
    assert sorted(table["column"]) == ["flow", "pressure"]  # in both; not latency, not row
    assert set(table["reference_days"]) == {3}
    assert table.loc[table["drifted"], "column"].tolist() == drifted
    (check,) = result.get_asset_check_evaluations()
    assert check.passed == (not drifted)
