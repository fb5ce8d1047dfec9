"""Throughput of the loan-application generator (rows per second), one million rows a day."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the loans example project
from project.stream import LoanStream  # noqa: E402


def main(rows: int = 1_000_000, repeats: int = 3) -> None:
    stream = LoanStream(rows_per_partition=rows)
    timings = []
    for i in range(repeats):
        started = time.perf_counter()
        stream.generate(f"2024-01-{i + 1:02d}")
        timings.append(time.perf_counter() - started)
    best = min(timings)
    print(f"generator: {rows:,} rows in {best:.2f} s (best of {repeats}) = "
          f"{rows / best:,.0f} rows/s")


if __name__ == "__main__":
    main()
