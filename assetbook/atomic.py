"""Atomic writes: a file appears complete under its final name, or not at all, so a run killed
midway leaves nothing that looks finished.

On a local disk the file is written to a temporary sibling and renamed into place. On an
object store (an `upath.UPath` such as `s3://bucket/key`) it is written to a local temporary
file and put at its final key in one request; s3fs sends a large file as a multipart upload
that S3 completes only once every part has arrived. Either way a reader sees the old object,
the new one, or none.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from upath import UPath

StorePath: TypeAlias = "Path | UPath"  # a local file, or a key of an fsspec store


@contextmanager
def atomic_path(final: StorePath) -> Iterator[Path]:
    """Yield a local temporary file; it becomes `final` only if the block succeeds."""
    if isinstance(final, Path):
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.tmp{final.suffix}")
    else:
        temporary = Path(tempfile.mkdtemp(prefix="assetbook-put-"), final.name)
    try:
        yield temporary
        publish(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
        if not isinstance(final, Path):
            temporary.parent.rmdir()


def publish(staged: Path, final: StorePath) -> None:
    """Move a finished local file to `final`: a rename on a local disk, one put on a store."""
    if isinstance(final, Path):
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
    else:
        final.fs.put_file(str(staged), final.path)
        staged.unlink()
