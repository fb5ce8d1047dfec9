"""A corpus of broken daily files, each with the stage that must refuse it and the words its
failure must contain, so a test can land them all beside good days in one go."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from project.stream import LoanStream

ROWS = 60
Writer = Callable[[pd.DataFrame, Path], None]
Change = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class BrokenDay:
    """One broken file: the reader refuses it (the source fails) or the schema does (the
    blocking check withholds the validated day)."""

    case: str
    suffix: str
    stage: Literal["reader", "schema"]
    expected: tuple[str, ...]
    write: Writer


def parquet(change: Change) -> Writer:
    return lambda frame, path: change(frame.copy()).to_parquet(path, index=False)


def csv(change: Change, **options: str) -> Writer:
    return lambda frame, path: change(frame.copy()).to_csv(path, index=False, **options)


def unchanged(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def setting(column: str, rows: slice, value: object) -> Change:
    """`value` in `rows` of `column` (the column becomes object when the value is text)."""
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        if isinstance(value, str):
            frame[column] = frame[column].astype(object)
        frame.loc[rows, column] = value
        return frame
    return change


def truncated(frame: pd.DataFrame, path: Path) -> None:
    """A Parquet file cut in half, as a copy interrupted midway leaves it."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


CORPUS = (
    BrokenDay("empty file", ".parquet", "reader", ("it is empty (0 bytes)",),
              lambda frame, path: path.write_bytes(b"")),
    BrokenDay("header only", ".csv", "reader", ("holds no rows", "salary, commission"),
              csv(lambda frame: frame.head(0))),
    BrokenDay("wrong delimiter", ".csv", "reader", ("is delimited by ';', not ','",),
              csv(unchanged, sep=";")),
    BrokenDay("wrong encoding", ".csv", "reader", ("it is not UTF-8 text", "save it as UTF-8"),
              csv(unchanged, encoding="utf-16")),
    BrokenDay("truncated parquet", ".parquet", "reader", ("cannot read landed file",
                                                          "Parquet magic bytes not found"),
              truncated),
    BrokenDay("extra column", ".parquet", "schema",
              ("column 'notes' is not in the schema (column_in_schema)",),
              parquet(lambda frame: frame.assign(notes="n/a"))),
    BrokenDay("missing column", ".parquet", "schema",
              ("column 'loan' is missing (column_in_dataframe)",),
              parquet(lambda frame: frame.drop(columns=["loan"]))),
    BrokenDay("wrong types", ".csv", "schema", ("column 'age': coerce_dtype('int64')", "forty"),
              csv(setting("age", slice(0, 0), "forty"))),
    BrokenDay("nulls", ".parquet", "schema", ("column 'salary': not_nullable fails in 3 row(s)",),
              parquet(setting("salary", slice(0, 2), np.nan))),
    BrokenDay("out of range", ".parquet", "schema",
              ("column 'age': greater_than_or_equal_to(18) fails in 2 row(s), e.g. [7, 7]",),
              parquet(setting("age", slice(0, 1), 7))),
    BrokenDay("duplicated rows", ".parquet", "schema",
              ("rows: no_duplicate_rows",
               f"fails in 3 row(s), e.g. at index {list(range(ROWS, ROWS + 3))}"),
              parquet(lambda frame: pd.concat([frame, frame.head(3)], ignore_index=True))),
    BrokenDay("one class only", ".parquet", "schema",
              ("column 'label': both_classes", "one class only is a data problem",
               f"fails in {ROWS} row(s), e.g. [1, 1"),
              parquet(lambda frame: frame.assign(label=1))),
    BrokenDay("huge outlier", ".parquet", "schema",
              ("column 'salary': less_than_or_equal_to(150000) fails in 1 row(s), "
               "e.g. [1000000000000.0]",),
              parquet(setting("salary", slice(0, 0), 1e12))),
)


@dataclass(frozen=True)
class LandedCorpus:
    good: dict[str, Path]
    broken: dict[str, tuple[BrokenDay, Path]]  # by partition key


def land_corpus(folder: Path, first: date, stream: LoanStream) -> LandedCorpus:
    """The corpus and two good days (Parquet first, CSV last) on consecutive days from
    `first`; every file is written beside the others, as a feed delivering a backlog would."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = [(first + timedelta(days=i)).isoformat() for i in range(len(CORPUS) + 2)]
    good = {keys[0]: folder / f"{keys[0]}.parquet", keys[-1]: folder / f"{keys[-1]}.csv"}
    for key, path in good.items():
        (parquet if path.suffix == ".parquet" else csv)(unchanged)(stream.generate(key), path)
    broken = {}
    for key, day in zip(keys[1:-1], CORPUS, strict=True):
        path = folder / f"{key}{day.suffix}"
        day.write(stream.generate(key), path)
        broken[key] = (day, path)
    return LandedCorpus(good, broken)
