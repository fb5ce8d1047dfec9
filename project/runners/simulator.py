"""Land simulated days into a landing folder, as a real feed would drop daily files."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from project.data.landing import landed_files
from project.data.loans import LoanStream
from project.resources.state import atomic_path


def next_day(folder: Path, start: date) -> date:
    """The day after the last landed one, or `start` if nothing landed yet."""
    days = [date.fromisoformat(key) for key in landed_files(folder, ("parquet", "csv"))
            if _is_iso_day(key)]
    return max(days) + timedelta(days=1) if days else start


def land_days(folder: Path, stream: LoanStream, start: date, days: int) -> list[Path]:
    """Write `days` new daily Parquet files after the last landed day; each appears at once
    (written under a hidden name, then renamed), so a sensor never reads half a file."""
    first = next_day(folder, start)
    landed = []
    for offset in range(days):
        key = (first + timedelta(days=offset)).isoformat()
        final = folder / f"{key}.parquet"
        with atomic_path(final) as tmp:
            stream.generate(key).to_parquet(tmp, index=False)
        landed.append(final)
    return landed


def _is_iso_day(key: str) -> bool:
    try:
        date.fromisoformat(key)
    except ValueError:
        return False
    return True
