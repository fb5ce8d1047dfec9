"""Served predictions recorded through BentoML's monitoring API: one record per answered row
(its request id and time, the request's fields, the answer, the model version, the latency),
as JSON lines that BentoML's default monitor writes under `<$ASSETBOOK_MONITORING>/predictions/
data/` (rotated daily; the deployer sets the variable: BentoML's workers run in the bento's
own folder), or, without it, wherever BentoML's `monitoring` configuration sends them (OTLP,
say). A `served` source (assetbook/data/served.py) reads them back as daily partitions."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

import bentoml

MONITOR = "predictions"
MONITORING_ENV = "ASSETBOOK_MONITORING"
ANSWER_COLUMNS = ("prediction", "model_version", "latency_ms")
INPUT_PREFIX = "input_"  # a request field named like an answer column is recorded under it


def sampled(rate: float) -> bool:
    """Whether this request is recorded, `rate` being the share recorded."""
    return rate >= 1 or (rate > 0 and random.random() < rate)


def record_rows(rows: Sequence[dict[str, Any]], answers: Sequence[dict[str, Any]],
           latency_s: float) -> None:
    """One record per row: its fields, then its answer."""
    columns = {(f"{INPUT_PREFIX}{name}" if _reserved(name) else name): [row[name] for row in rows]
               for name in rows[0]}
    folder = os.environ.get(MONITORING_ENV)
    with bentoml.monitor(MONITOR, **({"monitor_class": "default", "monitor_options": {
            "log_path": folder}} if folder else {})) as monitor:
        for name, values in columns.items():
            monitor.log_batch(values, name, "feature", _type(values))
        for name, values in answer_columns(answers, latency_s).items():
            monitor.log_batch(values, name, "prediction", _type(values))


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
    return name in ANSWER_COLUMNS or name.startswith("probability_")


def _type(values: Sequence[Any]) -> str:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return "numerical" if numbers else "categorical"
