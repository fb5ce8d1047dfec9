"""Answers and refusals recorded as a served API records them: by BentoML's own monitor, in a
process of its own as in a server, each request under the request id the server would give it
(BentoML's trace context, which only a running server sets). Records can be moved onto
another day, as if served then: a test must not depend on the day it runs on, nor fail when
midnight passes during it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assetbook.serving.recording import MONITOR, MONITORING_ENV

RECORD = """
import json, sys
from bentoml._internal.context import trace_context
from assetbook.serving.recording import record_refusal, record_rows
served = json.load(sys.stdin)
for request in served["requests"]:
    if request["request_id"] is not None:
        trace_context.request_id = request["request_id"]
    record_rows(request["rows"], request["answers"], request["latency_s"])
for refusal in served["refusals"]:
    record_refusal(**refusal)
"""


@dataclass(frozen=True)
class Request:
    rows: list[dict[str, Any]]
    answers: list[dict[str, Any]]  # one per row, as the API answers
    latency_s: float
    request_id: int | None = None  # None: BentoML's own (outside a server: one for all)


@dataclass(frozen=True)
class Refusal:
    endpoint: str
    status: int
    reason: str
    model_version: str


TIMESTAMP_DAY = re.compile(r'"timestamp": "\d{4}-\d{2}-\d{2}')


def record(folder: Path, requests: Sequence[Request], refusals: Sequence[Refusal] = (),
           day: str | None = None) -> str:
    """Record `requests` and `refusals` in BentoML's monitoring log under `folder`, and
    return the one day the log's records fall on; with `day`, every record is moved onto it
    (a test that reads back a day must not find half of its records on the next)."""
    subprocess.run([sys.executable, "-c", RECORD], check=True, timeout=120, text=True,
                   input=json.dumps({"requests": [asdict(r) for r in requests],
                                     "refusals": [asdict(r) for r in refusals]}),
                   env={**os.environ, MONITORING_ENV: str(folder)})
    if day is not None:
        (log,) = (folder / MONITOR / "data").glob("data.*.log")  # the one written to
        log.write_text(TIMESTAMP_DAY.sub(f'"timestamp": "{day}', log.read_text()))
    (only,) = recorded_days(folder)
    return only


def recorded_days(folder: Path) -> list[str]:
    """The days a monitoring folder holds records of (a server's requests may span midnight)."""
    return sorted({found[-10:] for log in (folder / MONITOR / "data").glob("data.*.log*")
                   for found in TIMESTAMP_DAY.findall(log.read_text())})
