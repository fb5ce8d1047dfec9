"""Answers and refusals recorded as a served API records them: by BentoML's own monitor, in a
process of its own as in a server, each request under the request id the server would give it
(BentoML's trace context, which only a running server sets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assetbook.serving.recording import MONITORING_ENV

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


def record(folder: Path, requests: list[Request], refusals: list[Refusal] = ()) -> None:
    """Record `requests` and `refusals` in BentoML's monitoring log under `folder`."""
    subprocess.run([sys.executable, "-c", RECORD], check=True, timeout=120, text=True,
                   input=json.dumps({"requests": [asdict(r) for r in requests],
                                     "refusals": [asdict(r) for r in refusals]}),
                   env={**os.environ, MONITORING_ENV: str(folder)})
