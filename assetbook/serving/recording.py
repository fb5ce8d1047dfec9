"""Served predictions recorded through BentoML's monitoring API: one record per answered row
(its request id and time, the request's fields, the answer, the model version, the latency),
and one per refused request (its endpoint, HTTP status and reason), as JSON lines that
BentoML's default monitor writes under `<$ASSETBOOK_MONITORING>/predictions/data/` (rotated
daily; the deployer sets the variable: BentoML's workers run in the bento's own folder), or,
without it, wherever BentoML's `monitoring` configuration sends them (OTLP, say). Both go to
the one monitor: BentoML's default monitors share one logger, so a second monitor in a
worker would take over the first one's file. A `served` source (assetbook/data/served.py)
reads them back as daily partitions, answers or refusals."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

MONITOR = "predictions"
MONITORING_ENV = "ASSETBOOK_MONITORING"
# the columns of answers and refusals: a request field named so is recorded as input_<name>
RECORDED_COLUMNS = ("prediction", "model_version", "latency_ms", "endpoint", "http_status",
                    "reason")
INPUT_PREFIX = "input_"  # a request field named like an answer column is recorded under it


def sampled(rate: float) -> bool:
    """Whether this request is recorded, `rate` being the share recorded."""
    return rate >= 1 or (rate > 0 and random.random() < rate)


def record_rows(rows: Sequence[dict[str, Any]], answers: Sequence[dict[str, Any]],
           latency_s: float) -> None:
    """One record per row: its fields, then its answer."""
    columns = {(f"{INPUT_PREFIX}{name}" if _reserved(name) else name): [row[name] for row in rows]
               for name in rows[0]}
    with _monitor() as monitor:
        for name, values in columns.items():
            monitor.log_batch(values, name, "feature", _type(values))
        for name, values in answer_columns(answers, latency_s).items():
            monitor.log_batch(values, name, "prediction", _type(values))


def record_refusal(endpoint: str, status: int, reason: str, model_version: str) -> None:
    """One record per refused request: what the client was told, by which version's server."""
    with _monitor() as monitor:
        monitor.log(endpoint, "endpoint", "feature", "categorical")
        monitor.log(status, "http_status", "prediction", "numerical")
        monitor.log(reason[:500], "reason", "prediction", "categorical")
        monitor.log(model_version, "model_version", "prediction", "categorical")


def _monitor() -> Any:
    import bentoml  # in the served process only: `stop` and the `served` source need the names

    folder = os.environ.get(MONITORING_ENV)
    return bentoml.monitor(MONITOR, **({"monitor_class": "default", "monitor_options": {
        "log_path": folder}} if folder else {}))


def answer_columns(answers: Sequence[dict[str, Any]], latency_s: float) -> dict[str, list]:
    """`prediction` (the label, or the value), `probability_<class>` of a classifier, the
    model version and the request's latency in ms."""
    first = answers[0]
    columns: dict[str, list] = {"prediction": [
        a["label"] if "label" in a else a["value"] for a in answers]}
    for label in first.get("probabilities", {}):
        columns[f"probability_{label}"] = [a["probabilities"][label] for a in answers]
    columns["model_version"] = [a["model_version"] for a in answers]
    columns["latency_ms"] = [round(latency_s * 1000, 3)] * len(answers)
    return columns


def _reserved(name: str) -> bool:
    return name in RECORDED_COLUMNS or name.startswith("probability_")


def _type(values: Sequence[Any]) -> str:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return "numerical" if numbers else "categorical"
