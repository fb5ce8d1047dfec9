"""The Python source of a module named by a spec, found without importing the module itself
(only its parent packages): code versions hash it, the definitions check the names a spec
imports from it, and the search reads a model's signature from it."""

from __future__ import annotations

import ast
import difflib
import functools
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


@functools.lru_cache(maxsize=64)
def parsed(source: str) -> ast.Module:
    """A module's syntax tree, parsed once per source text (every asset naming the module
    reads it as the definitions are built); not to be changed by its readers."""
    return ast.parse(source)


def missing_name(reference: str) -> str | None:
    """Why `module:Name` names nothing, as its module's source says it without importing the
    module: "module 'm' has no 'Nmae'; did you mean 'Name'?". None where the source binds the
    name, or cannot tell (no Python source, a star import, a module-level `__getattr__`)."""
    module, _, name = reference.partition(":")
    try:
        names = _top_level_names(parsed(module_source(module)).body)
    except (ModuleSourceError, ImportError, SyntaxError, ValueError, OSError):
        return None
    if names is None or name in names:
        return None
    hint = difflib.get_close_matches(name, sorted(n for n in names if not n.startswith("_")), n=1)
    return f"module '{module}' has no '{name}'" + (f"; did you mean '{hint[0]}'?" if hint else "")


def _top_level_names(body: list[ast.stmt]) -> set[str] | None:
    """The names a module's top level binds, through its if/try/with/for blocks; None where
    they cannot be read off the source."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            if any(alias.name == "*" for alias in node.names):
                return None
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Match):  # its cases bind names no simple walk finds
            return None
        names.update(n.id for target in _targets(node) for n in ast.walk(target)
                     if isinstance(n, ast.Name))
        blocks = [getattr(node, part, []) for part in ("body", "orelse", "finalbody")]
        blocks += [handler.body for handler in getattr(node, "handlers", [])]
        for block in filter(None, blocks):
            inner = _top_level_names(block)
            if inner is None:
                return None
            names |= inner
    return None if "__getattr__" in names else names


def _targets(node: ast.stmt) -> list[ast.expr]:
    """What a statement assigns to: `x = ...`, `x: int = ...`, `for x in ...`, `with ... as x`."""
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For):
        return [node.target]
    if isinstance(node, ast.With):
        return [item.optional_vars for item in node.items if item.optional_vars is not None]
    return []
