"""Partitions made by a user's generator function, and simulated days landed as files, as a
real feed would drop them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import partial

import pandas as pd

from assetbook.atomic import StorePath, atomic_path
from assetbook.data.landing import landed_files
from assetbook.serving.references import import_object
from assetbook.spec.models import GeneratorSpec

Generator = Callable[[str], pd.DataFrame]


def load_generator(spec: GeneratorSpec, rows: int | None = None) -> Generator:
    """`key -> frame` from the spec's `module:function`, its rows and options."""
    function = import_object(spec.generator, "generator")
    return partial(function, rows=rows or spec.rows, **spec.options)


def next_day(folder: StorePath, start: date) -> date:
    """The day after the last landed one, or `start` if nothing landed yet."""
    days = [date.fromisoformat(key) for key in landed_files(folder, ("parquet", "csv"))
            if _is_iso_day(key)]
    return max(days) + timedelta(days=1) if days else start


def land_days(folder: StorePath, generate: Generator, start: date, days: int
              ) -> list[StorePath]:
    """Write `days` new daily Parquet files after the last landed day; each appears at once
    (written under a hidden name, then renamed), so a sensor never reads half a file."""
    first = next_day(folder, start)
    landed = []
    for offset in range(days):
        key = (first + timedelta(days=offset)).isoformat()
        final = folder / f"{key}.parquet"
        with atomic_path(final) as tmp:
            generate(key).to_parquet(tmp, index=False)
        landed.append(final)
    return landed


def _is_iso_day(key: str) -> bool:
    try:
        date.fromisoformat(key)
    except ValueError:
        return False
    return True
