"""The registry of asset kinds: each kind's spec, rules and builder found from one entry."""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import get_args

import pytest

from assetbook.kinds import BY_NAME, KINDS, Kind

NAMES = ["source", "validate", "notebook", "drift", "train", "tune", "evaluate", "promote",
         "package", "deploy", "live"]


def test_every_kind_is_registered_once() -> None:
    assert [kind.name for kind in KINDS] == NAMES
    assert list(BY_NAME) == NAMES


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_a_kind_spec_is_tagged_by_its_name(kind: Kind) -> None:
    assert get_args(kind.spec.model_fields["kind"].annotation) == (kind.name,)
    assert kind.spec.__module__ == f"assetbook.kinds.{kind.name}"


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_a_kind_builder_resolves_to_a_function(kind: Kind) -> None:
    module, _, function = kind.builder.partition(":")
    assert module == f"assetbook.kinds.{kind.name}.asset"
    assert callable(getattr(importlib.import_module(module), function))


def test_specs_and_kinds_load_without_dagster() -> None:
    code = ("import sys, assetbook.kinds, assetbook.spec; "
            "from assetbook.spec.loader import load_project; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
