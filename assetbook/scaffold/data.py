"""The user's data folder, read and checked once by `assetbook init --data`: daily files named
`<day>.csv` or `<day>.parquet`, the same columns in each, and the target in all of them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from assetbook.data.landing import landed_files, read_landed_file
from assetbook.errors import AssetbookError, SourceError

FORMATS = ("parquet", "csv")
LAG, HELD_OUT = 2, 2  # the newest days, kept for scoring candidate and champion
MIN_DAYS = HELD_OUT + 1  # and at least one day to train on


@dataclass(frozen=True)
class DataFolder:
    folder: Path
    files: dict[str, Path]  # partition key -> its file
    days: dict[str, pd.DataFrame]  # partition key -> its rows, as the landing source reads it
    target: str

    @property
    def frame(self) -> pd.DataFrame:
        """All days, one after the other."""
        return pd.concat(self.days.values(), ignore_index=True)

    def example_row(self) -> dict[str, object]:
        """A real request: the newest day's first row without the target, as JSON values,
        each read from its own column (a row of a table of ints and floats is all floats, and
        the API refuses 61.0 for an int)."""
        newest = next(reversed(self.days.values())).drop(columns=[self.target])
        return {str(name): _json_value(newest[name].iloc[0]) for name in newest.columns}


def read_data(folder: Path, target: str) -> DataFolder:
    """Every landed day of `folder`, checked: enough days, one set of columns, the target."""
    folder = folder.resolve()
    if not folder.is_dir():
        raise AssetbookError(f"--data {folder}: not a folder; give the folder that holds your "
                             "daily files, e.g. data/2024-01-01.csv")
    files = landed_files(folder, FORMATS)
    if len(files) < MIN_DAYS:
        seen = sorted(p.name for p in folder.iterdir())[:5]
        raise AssetbookError(
            f"--data {folder}: found {len(files)} daily file(s), {MIN_DAYS} at least are "
            f"needed ({HELD_OUT} held out to score the model, 1 to train on); name each file "
            f"after its day: <day>.csv or <day>.parquet, e.g. 2024-01-03.csv (the folder "
            f"holds: {', '.join(seen) or 'nothing'})")
    try:
        days = {key: read_landed_file(folder, key, FORMATS) for key in files}
    except SourceError as exc:
        raise AssetbookError(f"--data {folder}: {exc}") from exc
    _check_columns(files, days, target)
    return DataFolder(folder, files, days, target)


def _check_columns(files: dict[str, Path], days: dict[str, pd.DataFrame], target: str) -> None:
    first = next(iter(days))
    columns = list(days[first].columns)
    for key, frame in days.items():
        if set(frame.columns) != set(columns):
            raise AssetbookError(
                f"{files[key]} has other columns than {files[first].name}: missing "
                f"{sorted(set(columns) - set(frame.columns))}, extra "
                f"{sorted(set(frame.columns) - set(columns))}; every day needs the same columns")
    if target not in columns:
        hint = difflib.get_close_matches(target, list(map(str, columns)), n=1)
        raise AssetbookError(f"--target '{target}' is not a column of the data"
                             + (f"; did you mean '{hint[0]}'?" if hint else ".")
                             + f" Columns: {', '.join(map(str, columns))}")
    empty = {key: int(frame[target].isna().sum()) for key, frame in days.items()
             if frame[target].isna().any()}
    if empty:
        where = ", ".join(f"{files[key].name} ({rows} rows)" for key, rows in empty.items())
        raise AssetbookError(f"the target '{target}' is empty in some rows: {where}; drop those "
                             "rows (a model cannot learn from them) or choose another --target")


def _json_value(value: object) -> object:
    """numpy and pandas scalars as plain JSON values; a missing value as null."""
    if pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value
