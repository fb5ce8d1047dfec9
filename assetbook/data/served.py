"""Read back one day of served predictions from BentoML's monitoring log (JSON lines, one
record per answered row, in `<folder>/predictions/data/data.<worker>.log`, rotated daily to
`...log.<date>`): the rows whose time, the server's local time, falls on that day, each with
its `row`, its place in its request (the rows of a batch are recorded in order)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from assetbook.errors import SourceError
from assetbook.serving.recording import MONITOR

DROPPED = ["trace_id"]  # BentoML's tracing id: 0 without a tracer


def served_day(folder: Path, day: str) -> pd.DataFrame:
    """The day's records, oldest first; a day without traffic has no rows."""
    logs = sorted((folder / MONITOR / "data").glob("data.*.log*"))
    frames = []
    for log in logs:
        if log.stat().st_size == 0:
            continue
        try:
            frame = pd.read_json(log, lines=True, dtype=False, convert_dates=False)
        except ValueError as exc:  # a line cut short by a killed server: the file names it
            raise SourceError(f"cannot read the served predictions in {log}: {exc}") from exc
        frames.append(frame[frame["timestamp"].str.startswith(day)])
    if not frames:
        return pd.DataFrame({"timestamp": pd.Series(dtype=str),
                             "request_id": pd.Series(dtype=str), "row": pd.Series(dtype=int)})
    day = (pd.concat(frames, ignore_index=True).drop(columns=DROPPED, errors="ignore")
           .sort_values("timestamp", ignore_index=True, kind="stable"))
    return day.assign(row=day.groupby("request_id").cumcount())
