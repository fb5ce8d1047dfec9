"""A load generator run as its own process: N concurrent clients POST one body for T seconds
and it prints JSON with the request rate and latency percentiles."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx


async def client(http: httpx.AsyncClient, url: str, body: dict, until: float,
                 latencies: list[float], errors: list[int]) -> None:
    while time.perf_counter() < until:
        started = time.perf_counter()
        try:
            status = (await http.post(url, json=body)).status_code
        except httpx.HTTPError:
            status = 0  # no answer at all
        if status == 200:
            latencies.append(time.perf_counter() - started)
        else:
            errors.append(status)


async def main(url: str, body: dict, concurrency: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        until = time.perf_counter() + seconds
        await asyncio.gather(*(client(http, url, body, until, latencies, errors)
                               for _ in range(concurrency)))
    latencies.sort()

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {"requests": len(latencies), "errors": len(errors),
            "error_statuses": sorted(set(errors)),
            "rps": len(latencies) / seconds, "p50_ms": percentile(0.5),
            "p99_ms": percentile(0.99)}


if __name__ == "__main__":
    url, body_json, concurrency, seconds = sys.argv[1:5]
    print(json.dumps(asyncio.run(main(url, json.loads(body_json), int(concurrency),
                                      float(seconds)))))
