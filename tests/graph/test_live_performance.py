"""Live performance: a day of answers the server recorded (by BentoML's own monitor, in a
process of its own, one request id per request as the server sets it) joined with the labels
that landed later gives per-version metrics equal to scikit-learn's on the same rows; labels
that flip make its check fail, naming the metric. A pump-state classifier of a user's own,
not the loans example."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from assetbook.resources.state import StateFolder
from tests.conftest import build_defs, evaluate_automation, requested, write_spec
from tests.recorded import Refusal, Request, record
from tests.specs import live_performance, source

DAY = "2026-03-14"  # the records' day, as if served then (not the latest day)
SPEC = """
pipeline: pumps
partitions:
  served_days: {type: daily, start: 2026-01-01, end_offset: 1}
assets:""" + live_performance("served_days")
PREDICTED = ["ok", "ok", "stalled", "ok", "stalled", "ok", "ok", "stalled", "ok", "ok"]
P_STALLED = [0.1, 0.3, 0.8, 0.2, 0.9, 0.4, 0.35, 0.7, 0.05, 0.45]
TRUTH = ["ok", "stalled", "stalled", "ok", "stalled", "ok", "stalled", "stalled", "ok"]  # 9


def served(predicted: list[str] = PREDICTED, version: str = "4") -> list[Request]:
    """Four single-row requests and one batch of six, as the API records them."""
    answers = [{"label": label, "probabilities": {"ok": 1 - p, "stalled": p},
                "model_version": version} for label, p in zip(predicted, P_STALLED, strict=True)]
    requests = [[0], [1], [2], [3], [4, 5, 6, 7, 8, 9]]
    return [Request([{"pump": f"p{i}", "pressure": float(i)} for i in rows],
                    [answers[i] for i in rows], 0.002 * (number + 1), 1000 + number)
            for number, rows in enumerate(requests)]


def land_labels(state: StateFolder, truth: list[str], day: str = DAY) -> None:
    """The labels of the first nine answered rows (the last has none yet), keyed as the
    predictions are: request id, and the row's place in a batch."""
    keys = [(1000 + i, 0) for i in range(4)] + [(1004, row) for row in range(6)]
    folder = state.landing("labels")
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"request_id": request, "row": row, "state": label}
                  for (request, row), label in zip(keys, truth, strict=False)]).to_csv(
        folder / f"{day}.csv", index=False)


def performance(defs: dg.Definitions, instance: dg.DagsterInstance, state: StateFolder
                ) -> tuple[pd.DataFrame, dg.AssetCheckEvaluation]:
    result = dg.materialize(list(defs.assets), instance=instance, resources=defs.resources,
                            partition_key=DAY)
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    return pd.read_parquet(state.artifacts / "live_performance" / f"{DAY}.parquet"), check


def test_live_metrics_agree_with_sklearn_and_flipped_labels_fail_the_check(
        project_dir: Path, state: StateFolder, instance: dg.DagsterInstance) -> None:
    write_spec(project_dir, SPEC)
    record(project_dir / "served", served(), day=DAY)
    land_labels(state, TRUTH)
    defs = build_defs(project_dir)

    table, check = performance(defs, instance, state)

    (row,) = table.to_dict("records")
    labelled = [label == "stalled" for label in TRUTH]
    assert row["model_version"] == "4"
    assert (row["answered"], row["labelled"]) == (10, 9)
    assert row["label_coverage"] == pytest.approx(0.9)
    assert row["accuracy"] == pytest.approx(accuracy_score(TRUTH, PREDICTED[:9]))
    assert row["roc_auc"] == pytest.approx(roc_auc_score(labelled, P_STALLED[:9]))
    assert row["latency_p50_ms"] == pytest.approx(2.0 * 5)  # the batch's six rows: 10 ms
    assert check.passed and "accuracy 0.7778 >= minimum 0.7" in check.description

    flipped = ["stalled" if label == "ok" else "ok" for label in TRUTH]  # after a drift
    land_labels(state, flipped)
    table, check = performance(defs, instance, state)

    assert table["accuracy"][0] == pytest.approx(accuracy_score(flipped, PREDICTED[:9]))
    assert not check.passed
    assert check.description.startswith(f"[{DAY}] v4: accuracy 0.2222 < minimum 0.7")


def test_labels_that_land_days_later_have_their_day_judged_and_no_other(
        project_dir: Path, state: StateFolder, instance: dg.DagsterInstance) -> None:
    """Dagster's eager keeps to the latest day; a live asset's labels arrive days after the
    answers they judge, so their day is requested whenever they land, and that day alone:
    not another past day, and not again once judged, even when the live spec changes."""
    spec = write_spec(project_dir, SPEC)
    record(project_dir / "served", served(), day=DAY)
    defs = build_defs(project_dir)
    judged_before = "2026-03-13"  # answered and labelled, judged before automation started
    for day in (judged_before, DAY):
        assert dg.materialize([defs.get_assets_def("predictions")], instance=instance,
                              resources=defs.resources, partition_key=day).success
    land_labels(state, TRUTH, judged_before)
    assert dg.materialize(list(defs.assets), instance=instance, resources=defs.resources,
                          partition_key=judged_before).success
    seed = evaluate_automation(defs=defs, instance=instance)
    land_labels(state, TRUTH)
    assert dg.materialize([defs.get_assets_def("labels")], instance=instance,
                          resources=defs.resources, partition_key=DAY).success

    result = evaluate_automation(defs=defs, instance=instance, cursor=seed.cursor)

    assert requested(result, ["live_performance"]) == {"live_performance": {DAY}}
    assert dg.materialize(list(defs.assets), instance=instance, resources=defs.resources,
                          selection=["live_performance"], partition_key=DAY).success
    judged = evaluate_automation(defs=defs, instance=instance, cursor=result.cursor)
    assert not requested(judged, ["live_performance"])
    spec.write_text(spec.read_text().replace("accuracy: 0.7", "accuracy: 0.75"))
    edited = build_defs(project_dir)  # a new code version: the latest day only (none yet)
    after = evaluate_automation(defs=edited, instance=instance,
                                              cursor=judged.cursor)
    assert not requested(after, ["live_performance"])


REFUSED = source("refused", "served_days", "{type: served, folder: served, records: refusals}")


def test_the_error_rate_is_each_versions_share_of_refused_requests(
        project_dir: Path, state: StateFolder, instance: dg.DagsterInstance) -> None:
    """v4 answered five requests and refused one; v5 (just deployed) refused both of its
    requests and answered none: its error rate is judged before any label arrives."""
    write_spec(project_dir, SPEC.replace("inputs: {predictions: same, labels: same}",
                                         "inputs: {predictions: same, labels: same, "
                                         "refused: same}").replace(
        "min: {accuracy: 0.7}", "min: {accuracy: 0.7}\n    max: {error_rate: 0.25}") + REFUSED)
    record(project_dir / "served", served(), [
        Refusal("/predict", 400, "age: Input should be a valid integer", "4"),
        Refusal("/predict_batch", 400, "List should have at least 1 item", "5"),
        Refusal("/predict", 415, "unsupported content type 'text/plain'", "5")], day=DAY)
    land_labels(state, TRUTH)
    defs = build_defs(project_dir)

    table, check = performance(defs, instance, state)

    rows = {row["model_version"]: row for row in table.to_dict("records")}
    assert (rows["4"]["requests"], rows["4"]["refused"]) == (6, 1)
    assert rows["4"]["error_rate"] == pytest.approx(1 / 6)
    assert (rows["5"]["requests"], rows["5"]["refused"], rows["5"]["answered"]) == (2, 2, 0)
    assert rows["5"]["error_rate"] == 1.0
    assert not check.passed
    assert check.description == f"[{DAY}] v5: error_rate 1.0000 > maximum 0.25"
