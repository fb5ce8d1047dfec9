"""Read one landed daily file; its name (without suffix), a day, is its partition key."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd

from assetbook.atomic import StorePath
from assetbook.errors import SourceError
from assetbook.resources.store import is_local

DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits (`\d` takes any script's)
DELIMITER = ","
OTHER_DELIMITERS = (";", "\t", "|")


def _read_csv(path: str) -> pd.DataFrame:
    """UTF-8 (with or without the byte-order mark spreadsheets write), comma-delimited."""
    return pd.read_csv(path, sep=DELIMITER, encoding="utf-8-sig")


READERS = {".parquet": pd.read_parquet, ".csv": _read_csv}


def partition_key_of(path: StorePath) -> str | None:
    """The day a landed file stands for (`2024-01-03.csv`), or None: a name that is not a day
    of the calendar is no partition (a stray `notes.csv` was trained on, and held out as the
    newest day), nor can it escape the state folder."""
    key = path.stem
    if not DAY.fullmatch(key):
        return None
    try:
        date.fromisoformat(key)
    except ValueError:  # 2024-02-30
        return None
    return key


def landed_files(folder: StorePath, formats: tuple[str, ...]) -> dict[str, StorePath]:
    """Day -> file for every finished file in the folder (dotfiles are in flight); a link is
    followed only if it leads to a file inside the folder."""
    return {key: p for p in _data_files(folder, formats) if (key := partition_key_of(p))}


def not_days(folder: StorePath, formats: tuple[str, ...]) -> list[StorePath]:
    """The data files in the folder that no day reads: their name is not a day."""
    return [p for p in _data_files(folder, formats) if partition_key_of(p) is None]


def _data_files(folder: StorePath, formats: tuple[str, ...]) -> list[StorePath]:
    if not folder.is_dir():
        return []
    suffixes = {f".{fmt}" for fmt in formats}
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix in suffixes and not p.name.startswith(".")
                  and _inside(p, folder))


def _inside(path: StorePath, folder: StorePath) -> bool:
    """On a disk, a link must lead to a file inside the folder; a store has no links."""
    return not is_local(path) or path.resolve().is_relative_to(folder.resolve())


def read_landed_file(folder: StorePath, key: str, formats: tuple[str, ...]) -> pd.DataFrame:
    """The frame of one partition; any failure names the file and the reason."""
    matches = [p for k, p in landed_files(folder, formats).items() if k == key]
    if not matches:
        raise SourceError(f"no landed file for partition '{key}' in {folder} "
                          f"(looked for {key}.{{{','.join(formats)}}})")
    path = matches[0]
    if path.stat().st_size == 0:
        raise SourceError(f"cannot read landed file {path}: it is empty (0 bytes)")
    try:
        frame = READERS[path.suffix](str(path))  # a local path or a store URL
    except UnicodeDecodeError as exc:
        raise SourceError(f"cannot read landed file {path}: it is not UTF-8 text "
                          f"({exc.reason} at byte {exc.start}); save it as UTF-8") from exc
    except Exception as exc:  # every reader error is the same fact for the user: unreadable
        raise SourceError(f"cannot read landed file {path}: {type(exc).__name__}: {exc}") from exc
    _refuse_wrong_delimiter(path, frame)
    if frame.empty:
        raise SourceError(f"landed file {path} holds no rows (columns: "
                          f"{', '.join(map(str, frame.columns)) or 'none'})")
    return frame


def _refuse_wrong_delimiter(path: StorePath, frame: pd.DataFrame) -> None:
    """A CSV read as one column whose name holds another delimiter was written with it."""
    if path.suffix != ".csv" or len(frame.columns) != 1:
        return
    header = str(frame.columns[0])
    if found := next((d for d in OTHER_DELIMITERS if d in header), None):
        raise SourceError(f"landed file {path} is delimited by {found!r}, not {DELIMITER!r}: "
                          f"its header reads as one column {header[:80]!r}")
