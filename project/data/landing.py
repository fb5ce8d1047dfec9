"""Read one landed daily file; its name (without suffix) is its partition key."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from project.errors import SourceError

SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
READERS = {".parquet": pd.read_parquet, ".csv": pd.read_csv}


def partition_key_of(path: Path) -> str | None:
    """The key a landed file stands for, or None if its name could escape the state folder."""
    key = path.stem
    return key if SAFE_KEY.match(key) and ".." not in key else None


def landed_files(folder: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    """Partition key -> file for every finished file in the folder (dotfiles are in flight)."""
    if not folder.is_dir():
        return {}
    suffixes = {f".{fmt}" for fmt in formats}
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix in suffixes and not p.name.startswith("."))
    return {key: p for p in files if (key := partition_key_of(p))}


def read_landed_file(folder: Path, key: str, formats: tuple[str, ...]) -> pd.DataFrame:
    """The frame of one partition; any failure names the file and the reason."""
    matches = [p for k, p in landed_files(folder, formats).items() if k == key]
    if not matches:
        raise SourceError(f"no landed file for partition '{key}' in {folder} "
                          f"(looked for {key}.{{{','.join(formats)}}})")
    path = matches[0]
    try:
        frame = READERS[path.suffix](path)
    except Exception as exc:  # every reader error is the same fact for the user: unreadable
        raise SourceError(f"cannot read landed file {path}: {type(exc).__name__}: {exc}") from exc
    if frame.empty:
        raise SourceError(f"landed file {path} holds no rows")
    return frame
