"""What a spec names in the user's code, checked as the definitions are built: a mistyped
class or function, or a hyperparameter the model does not take, fails the load with the spec's
field and the closest name, instead of a step minutes into a run.

Read from the modules' source, without importing them (a model's module imports PyTorch and
Lightning, ~3 s, in every process that loads the definitions); what the source cannot say (a
star import, a model with `**kwargs`) is left to the step, which imports it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from assetbook.runners.model_signature import init_parameters
from assetbook.spec.models import OBJECT_REF
from assetbook.spec.module_source import missing_name

REFERENCE_FIELDS = ("model", "schema", "generator", "transform")  # `module:Name` values
# the user's own values, handed to their code as they are: nothing in them is a field
FREE_FORM = ("config", "options", "hyperparameters", "probe", "space")
SUPPLIED = frozenset({"n_features", "n_outputs", "task"})  # given by Assetbook, not the spec


def reference_problems(spec: Any) -> Iterator[tuple[str, str]]:
    """(field, message) for each name the spec imports that its module does not define, and
    each hyperparameter the model's `__init__` does not take."""
    fields = spec.model_dump(mode="json", by_alias=True)
    missing = {field: problem for field, reference in _references(fields)
               if (problem := missing_name(reference))}
    yield from missing.items()
    model = fields.get("model")
    if not isinstance(model, str) or not re.match(OBJECT_REF, model) or "model" in missing:
        return
    taken = init_parameters(model)
    if taken is None or "n_features" not in taken:  # the step imports the class to know
        return
    named = {**{f"search.space.{k}": k for k in (fields.get("search") or {}).get("space", {})},
             **{f"hyperparameters.{k}": k for k in fields.get("hyperparameters") or {}}}
    allowed = sorted(taken - SUPPLIED)
    for field, name in named.items():
        if name not in taken:
            hint = difflib.get_close_matches(name, allowed, n=1)
            yield field, (f"model '{model}' takes no '{name}'"
                          + (f"; did you mean '{hint[0]}'?" if hint else ".")
                          + f" It takes: {', '.join(allowed) or 'nothing more'}.")


def _references(fields: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field, `module:Name`) under the reference fields, at any depth of the spec."""
    items = (fields.items() if isinstance(fields, dict)
             else enumerate(fields) if isinstance(fields, list) else ())
    for key, value in items:
        field = f"{path}.{key}" if path else str(key)
        if key in REFERENCE_FIELDS and isinstance(value, str) and re.match(OBJECT_REF, value):
            yield field, value
        elif key not in FREE_FORM:
            yield from _references(value, field)
