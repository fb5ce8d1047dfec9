"""The project's specs load (every asset, input and field is valid) and the schemas they name
import: the first thing to break when a spec or `project/` is edited, found in a second."""

from __future__ import annotations

import importlib
from pathlib import Path

from assetbook.kinds.validate import ValidateAssetSpec
from assetbook.spec.loader import load_project

ROOT = Path(__file__).resolve().parent.parent


def test_the_specs_load_and_their_schemas_import() -> None:
    project = load_project(ROOT)
    checks = [check for declared in project.assets.values()
              if isinstance(declared.spec, ValidateAssetSpec) for check in declared.spec.checks]
    assert checks, "no validate asset with a schema check in assets/"
    for check in checks:
        module, name = check.schema_.split(":")
        schema = getattr(importlib.import_module(module), name)
        assert schema.to_schema().columns, f"{check.schema_} declares no columns"
