"""`module:name` references, as specs name models, generators, schemas and transforms."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from typing import Any

from assetbook.errors import AssetbookError


def import_object(reference: str, what: str = "",
                  error: type[AssetbookError] = AssetbookError) -> Any:
    """`module:name` -> the object, with an error (of type `error`, naming `what` the
    reference is, e.g. "model") that says which part failed."""
    label = f"{what} '{reference}'" if what else f"'{reference}'"
    module_name, _, name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise error(f"{label}: module '{module_name}' does not import: {exc}") from exc
    try:
        return getattr(module, name)
    except AttributeError as exc:
        raise error(f"{label}: module '{module_name}' has no '{name}'") from exc


def bound_transform(reference: str | None, options: Mapping[str, Any]
                    ) -> Callable[[Any], Any]:
    """A spec's transform with its options bound; rows pass unchanged without one."""
    if reference is None:
        return lambda frame: frame
    return functools.partial(import_object(reference, "transform"), **options)
