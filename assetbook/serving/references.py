"""`module:name` references, as the spec writes schemas and transforms, resolved in the bento."""

from __future__ import annotations

import importlib
from typing import Any

from assetbook.errors import AssetbookError


def import_object(reference: str) -> Any:
    """`module:name` -> the object, with an error that says which part failed."""
    module_name, _, name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AssetbookError(f"'{reference}': module '{module_name}' does not import: "
                             f"{exc}") from exc
    try:
        return getattr(module, name)
    except AttributeError as exc:
        raise AssetbookError(f"'{reference}': module '{module_name}' has no '{name}'") from exc
