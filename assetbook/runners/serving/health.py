"""What a running bento server says about itself: the errors it answered since it started."""

from __future__ import annotations

import re

import httpx

# BentoML's request counter of the API service, one sample per endpoint and response code
_SERVER_ERRORS = re.compile(
    r'^bentoml_service_request_total\{(?=[^}]*runner_name="Api")(?=[^}]*'
    r'http_response_code="5\d\d")[^}]*\}\s+(\S+)', re.M)


def server_errors(url: str) -> int:
    """The 5xx answers the API server at `url` gave since it started, from its /metrics."""
    metrics = httpx.get(f"{url}/metrics", timeout=10)
    metrics.raise_for_status()
    return int(sum(float(count) for count in _SERVER_ERRORS.findall(metrics.text)))
