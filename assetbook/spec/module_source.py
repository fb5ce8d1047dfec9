"""The Python source of a module named by a spec, found without importing the module itself
(only its parent packages): code versions hash it, and the search reads a model's signature
from it."""

from __future__ import annotations

import importlib.util
from pathlib import Path


class ModuleSourceError(LookupError):
    """A module named by a spec cannot be found; the builder says which spec named it."""


def module_source(module: str) -> str:
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise ModuleSourceError(f"module '{module}' not found or has no Python source")
    return Path(spec.origin).read_text(encoding="utf-8")
