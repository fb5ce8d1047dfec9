"""Content versions: a partition's version is a digest of its stored bytes.

Every file the pipeline stores is kept once under its version, immutable, beside the latest
copy readers get (`<root>/.versions/<asset>/<partition>/<version><suffix>`), so recomputing a
partition adds a version and never loses the bytes a past model learned from. Equal bytes
give an equal version: a recomputation that changes nothing is not a change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from assetbook.atomic import StorePath

VERSIONS_FOLDER = ".versions"
VERSION_LENGTH = 16  # hex digits of SHA-256 kept: 64 bits, ample per partition
_CHUNK = 1 << 20


def content_version(path: StorePath) -> str:
    """The version of a file's content, wherever it is stored."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()[:VERSION_LENGTH]


def combined_version(versions: Mapping[str, str]) -> str:
    """One version for several partitions' versions (by key): Dagster records a single data
    version for every partition a run materializes together."""
    digest = hashlib.sha256()
    for key in sorted(versions):
        digest.update(f"{key}={versions[key]}\n".encode())
    return digest.hexdigest()[:VERSION_LENGTH]
