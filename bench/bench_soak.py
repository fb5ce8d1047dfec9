"""Serving soak: the loans bento under steady load for --minutes, from a separate load
process: single rows on /predict (adaptively batched) and 32-row requests on /predict_batch
at once. One line per window: requests/s, p99 latency, errors (any non-200 or no answer) and
the resident memory of the server's process tree. At the end: the errors over the whole soak
(must be 0) and the memory of the last window over the first (bounded: about 1.0x)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_serving import APPLICATION, load, serve_bento, trained_bento

from assetbook.runners.serving.deployment import free_port

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.processes import resident_mb  # noqa: E402

SINGLE_CLIENTS, BATCH_CLIENTS = 16, 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--window", type=float, default=30, help="seconds a line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bento, _, env = trained_bento(Path(tmp))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server, _ = serve_bento(bento, env, port)
        try:
            print(f"{'window':>6s} {'req/s':>7s} {'rows/s':>7s} {'p99 ms':>7s} {'errors':>6s} "
                  f"{'RSS MB':>7s}")
            windows, errors, memory = int(args.minutes * 60 / args.window), 0, []
            for window in range(windows):
                with ThreadPoolExecutor(2) as pool:
                    single = pool.submit(load, f"{url}/predict", {"application": APPLICATION},
                                         SINGLE_CLIENTS, args.window)
                    batch = pool.submit(load, f"{url}/predict_batch",
                                        {"applications": [APPLICATION] * 32}, BATCH_CLIENTS,
                                        args.window)
                    one, many = single.result(), batch.result()
                memory.append(resident_mb({server.pid}))
                errors += one["errors"] + many["errors"]
                print(f"{window + 1:6d} {one['rps'] + many['rps']:7.0f} "
                      f"{one['rps'] + 32 * many['rps']:7.0f} "
                      f"{max(one['p99_ms'], many['p99_ms']):7.1f} "
                      f"{one['errors'] + many['errors']:6d} {memory[-1]:7.0f} "
                      f"{sorted(set(one['error_statuses'] + many['error_statuses'])) or ''}")
            print(f"soak of {args.minutes:g} min: {errors} errors; serving memory "
                  f"{memory[-1] / memory[0]:.2f}x the first window's ({memory[0]:.0f} -> "
                  f"{memory[-1]:.0f} MB)")
        finally:
            os.killpg(server.pid, 15)
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
