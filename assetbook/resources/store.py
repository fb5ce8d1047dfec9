"""Paths in the project's store: a local folder (the default), or any fsspec store (s3://,
gs://, az://) through universal-pathlib. Readers take either; a store's endpoint and
credentials come from the environment (the profile's `environment`), as for any fsspec user.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from assetbook.atomic import StorePath

if TYPE_CHECKING:
    import pandas as pd


def store_path(location: str | Path) -> StorePath:
    """A `Path` for a local folder or `file://` URL, an `upath.UPath` for a store URL."""
    text = str(location)
    if text.startswith("file://"):
        return Path(text.removeprefix("file://"))
    if "://" not in text:
        return Path(text)
    from upath import UPath

    return UPath(text)


def is_local(path: StorePath) -> bool:
    return isinstance(path, Path)


def read_frame(path: StorePath, **options) -> pd.DataFrame:
    """A Parquet file as a frame, wherever it is stored."""
    import pandas as pd  # not at import: `assetbook stop` reads no frame
    return pd.read_parquet(str(path), **options)
