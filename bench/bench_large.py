"""The whole default pipeline at scale: `assetbook run --no-serve` of the loans example on 14
landed days of 100,000 rows each, against the same work written by hand as one script
(`bench/hand_pipeline.py`), in one run. Both start from the same landed Parquet files and end
with the champion saved; packaging and serving are left out (bench_serving.py measures them).

Measured for each: wall time, and the peak of the resident memory summed over its whole
process tree (sampled every 0.2 s: Assetbook's kernels, Ray and training processes count).
Prints both and the ratios (goal: time at most 1.5x, memory at most 2x).
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
from pathlib import Path

import pandas as pd
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the loans example project
from assetbook.runners.simulator import land_days  # noqa: E402
from project.stream import LoanStream  # noqa: E402


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak MiB of the process tree, stdout) of a command run to its end."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    peak, done = [0.0], threading.Event()

    def sample() -> None:
        root = psutil.Process(process.pid)
        while not done.is_set():
            total = 0
            try:
                for member in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):  # exited since it was listed
                        total += member.memory_info().rss
            except psutil.Error:
                break
            peak[0] = max(peak[0], total / 2**20)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err[-3000:]}")
    return time.perf_counter() - started, peak[0], out


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
        hand_s, hand_mb, hand_out = measured(
            [sys.executable, str(REPO / "bench" / "hand_pipeline.py"), str(landing),
             str(Path(tmp) / "hand")], env)
        ours_s, ours_mb, _ = measured(
            [str(Path(sys.executable).parent / "assetbook"), "--project", str(root), "run",
             "--days", str(args.days), "--no-serve"], env)
        hand = json.loads(hand_out.splitlines()[-1])
    print(f"{args.days} days x {args.rows:,} rows, up to the champion")
    print(f"  by hand:   {hand_s:7.1f} s  peak {hand_mb:7.0f} MiB  "
          f"(held-out accuracy {hand['scores']['accuracy']:.3f}, "
          f"roc_auc {hand['scores']['roc_auc']:.3f})")
    print(f"  assetbook: {ours_s:7.1f} s  peak {ours_mb:7.0f} MiB")
    print(f"  ratio: time {ours_s / hand_s:.2f}x (goal 1.5x), "
          f"memory {ours_mb / hand_mb:.2f}x (goal 2x)")


if __name__ == "__main__":
    main()
