"""What data versions cost: storing partitions through Assetbook's versioned store (a content
hash of each staged file, kept under its version, hard-linked as the latest) side by side with
the unversioned write a good engineer would do by hand (Parquet to a temporary name, then a
rename), in one run, at the default pipeline's size (2,000 rows a day) and at 100,000 rows a
day. Each day is written, then recomputed with changed rows (a correction), so the disk
column shows what keeping every version costs. Prints seconds, MB and the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assetbook.resources.artifacts import ArtifactIOManager  # noqa: E402
from assetbook.resources.versions import content_version  # noqa: E402
from project.stream import LoanStream  # noqa: E402

ASSET = dg.AssetKey("features")
Writer = Callable[[Path, str, pd.DataFrame], None]


def by_hand(root: Path, key: str, frame: pd.DataFrame) -> None:
    final = root / "features" / f"{key}.parquet"
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{key}.tmp.parquet")
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, final)


def versioned(root: Path, key: str, frame: pd.DataFrame) -> None:
    """What an asset's output and the IO manager do: stage, version (the output's data
    version), store (which versions the file again and links it as the latest)."""
    staged = root / "staging" / f"{key}.parquet"
    staged.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(staged, index=False)
    content_version(staged)
    ArtifactIOManager(root=str(root / "artifacts")).store(ASSET, key, staged)


def disk_bytes(root: Path) -> int:
    """Bytes on disk under `root`, each hard-linked file counted once."""
    seen: dict[int, int] = {}
    for path in root.rglob("*"):
        if path.is_file():
            info = path.stat()
            seen[info.st_ino] = info.st_size
    return sum(seen.values())


def measure(writer: Writer, days: dict[str, pd.DataFrame],
            corrected: dict[str, pd.DataFrame]) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-versions-") as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        for key, frame in days.items():
            writer(root, key, frame)
        written = time.perf_counter() - started
        started = time.perf_counter()
        for key, frame in corrected.items():
            writer(root, key, frame)
        recomputed = time.perf_counter() - started
        return written, recomputed, disk_bytes(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=7, help="days per size (default: 7)")
    args = parser.parse_args()
    print(f"{'rows/day':>9} {'write s (hand, versioned, x)':>32} "
          f"{'recompute s (hand, versioned, x)':>36} {'disk MB (hand, versioned, x)':>32}")
    for rows in (2_000, 100_000):
        stream = LoanStream(rows_per_partition=rows)
        keys = [f"2024-01-{day:02d}" for day in range(1, args.days + 1)]
        days = {key: stream.generate(key) for key in keys}
        corrected = {key: frame.iloc[: len(frame) // 2] for key, frame in days.items()}
        measure(by_hand, days, corrected)  # warm the Parquet writer and the page cache
        hand = measure(by_hand, days, corrected)
        kept = measure(versioned, days, corrected)
        print(f"{rows:>9,} "
              f"{hand[0]:>9.3f} {kept[0]:>9.3f} {kept[0] / hand[0]:>9.2f}x   "
              f"{hand[1]:>11.3f} {kept[1]:>11.3f} {kept[1] / hand[1]:>9.2f}x   "
              f"{hand[2] / 1e6:>8.1f} {kept[2] / 1e6:>8.1f} {kept[2] / hand[2]:>9.2f}x")


if __name__ == "__main__":
    main()
