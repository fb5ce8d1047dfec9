"""The whole default pipeline at scale: `assetbook run --no-serve` of the loans example on 14
landed days of 100,000 rows each, against the same work written by hand as one script
(`bench/hand_pipeline.py`), in one run. Both start from the same landed Parquet files and end
with the champion saved; packaging and serving are left out (bench_serving.py measures them).

Measured for each: wall time, and the peak memory of its whole process tree (sampled every
second: Assetbook's kernels, Ray and training processes count), as the sum of the processes'
proportional set sizes (PSS: a page shared by N processes counts 1/N in each). Summed
resident sizes (RSS), printed beside it, count the pages of libtorch that every process
imports, and Ray's shared object store, once per process. Prints both, the ratios (goal:
time at most 1.5x, memory at most 2x), and Assetbook's time by step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the loans example project
from assetbook.runners.simulator import land_days  # noqa: E402
from project.stream import LoanStream  # noqa: E402


@dataclass
class Measured:
    seconds: float
    pss_mb: float  # peak of the tree's summed PSS
    rss_mb: float  # peak of the tree's summed RSS
    out: str
    err: str


def measured(command: list[str], env: dict[str, str]) -> Measured:
    """Time, peak memory and output of a command run to its end."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    peak, done = {"pss": 0.0, "rss": 0.0}, threading.Event()

    def sample() -> None:
        # Reading a process's PSS costs ~9 ms of CPU (its smaps): every second, at the lowest
        # priority, so that the sampling takes no CPU from the work it measures.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        root = psutil.Process(process.pid)
        while not done.is_set():
            total = {"pss": 0, "rss": 0}
            try:
                for member in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):  # exited since it was listed
                        memory = member.memory_full_info()
                        total["pss"] += memory.pss
                        total["rss"] += memory.rss
            except psutil.Error:
                break
            for kind, value in total.items():
                peak[kind] = max(peak[kind], value / 2**20)
            time.sleep(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err[-3000:]}")
    return Measured(time.perf_counter() - started, peak["pss"], peak["rss"], out, err)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=14, help="landed days (default: 14)")
    parser.add_argument("--rows", type=int, default=100_000,
                        help="rows per day (default: 100,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "loans"
        for folder in ("assets", "notebooks", "bentos", "project"):
            shutil.copytree(REPO / folder, root / folder)
        shutil.copy(REPO / "workspace.yaml", root)
        state = root / ".assetbook"
        landing = state / "landing" / "raw_applications"
        land_days(landing, LoanStream(args.rows).generate, pd.Timestamp("2024-01-01").date(),
                  args.days)
        env = {**os.environ, "ASSETBOOK_STATE": str(state)}
        env.pop("MLFLOW_TRACKING_URI", None)
        hand = measured([sys.executable, str(REPO / "bench" / "hand_pipeline.py"),
                         str(landing), str(Path(tmp) / "hand")], env)
        ours = measured([str(Path(sys.executable).parent / "assetbook"), "--project", str(root),
                         "run", "--days", str(args.days), "--no-serve"], env)
    scores = json.loads(hand.out.splitlines()[-1])["scores"]
    print(f"{args.days} days x {args.rows:,} rows, up to the champion")
    print(f"  by hand:   {hand.seconds:7.1f} s  peak PSS {hand.pss_mb:6.0f} MiB "
          f"(RSS {hand.rss_mb:6.0f})  held-out accuracy {scores['accuracy']:.3f}, "
          f"roc_auc {scores['roc_auc']:.3f}")
    print(f"  assetbook: {ours.seconds:7.1f} s  peak PSS {ours.pss_mb:6.0f} MiB "
          f"(RSS {ours.rss_mb:6.0f})")
    print(f"  ratio: time {ours.seconds / hand.seconds:.2f}x (goal 1.5x), memory "
          f"{ours.pss_mb / hand.pss_mb:.2f}x by PSS (goal 2x), {ours.rss_mb / hand.rss_mb:.2f}x "
          "by RSS")
    print("  assetbook by step:")
    for line in (ours.out + ours.err).splitlines():
        if line.startswith("✓"):
            print(f"    {line[1:].strip()}")


if __name__ == "__main__":
    main()
