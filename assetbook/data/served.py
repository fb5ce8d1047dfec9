"""Read back one day of what a served model recorded, from BentoML's monitoring log (JSON
lines in `<folder>/predictions/data/data.<worker>.log`, rotated daily to `...log.<date>`):
the records whose time, the server's local time, falls on that day. Answered rows (one
record per row) each get their `row`, their place in their request (the rows of a batch are
recorded in order); refused requests are one record each, told apart by their HTTP status."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import pandas as pd

from assetbook.errors import SourceError
from assetbook.serving.recording import MONITOR

DROPPED = ["trace_id"]  # BentoML's tracing id: 0 without a tracer
REFUSAL_MARK = '"http_status": '  # a key only a refusal's record has (answers' are renamed)
Records = Literal["answers", "refusals"]
COLUMNS: dict[Records, dict[str, str]] = {  # what a day without traffic still has
    "answers": {"timestamp": "str", "request_id": "str", "row": "int64"},
    "refusals": {"timestamp": "str", "request_id": "str", "endpoint": "str",
                 "http_status": "int64", "reason": "str", "model_version": "str"}}


def served_day(folder: Path, day: str, records: Records = "answers") -> pd.DataFrame:
    """The day's records, oldest first; a day without traffic has no rows."""
    refusals = records == "refusals"
    frames = []
    for log in sorted((folder / MONITOR / "data").glob("data.*.log*")):
        lines = [line for line in log.read_text().splitlines()
                 if line and (REFUSAL_MARK in line) == refusals]  # parsed apart: own dtypes
        if not lines:
            continue
        try:
            frame = pd.read_json(io.StringIO("\n".join(lines)), lines=True, dtype=False,
                                 convert_dates=False)
        except ValueError as exc:  # a line cut short by a killed server: the file names it
            raise SourceError(f"cannot read the served records in {log}: {exc}") from exc
        frames.append(frame[frame["timestamp"].str.startswith(day)])
    if not any(len(frame) for frame in frames):
        return _empty(records)
    found = (pd.concat(frames, ignore_index=True).drop(columns=DROPPED, errors="ignore")
             .sort_values("timestamp", ignore_index=True, kind="stable"))
    if refusals:
        return found[list(COLUMNS[records])]
    return found.assign(row=found.groupby("request_id").cumcount())


def _empty(records: Records) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype)
                         for name, dtype in COLUMNS[records].items()})
