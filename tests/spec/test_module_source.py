"""A `module:Name` the spec imports, looked up in its module's source without importing it:
the names the top level binds (through its blocks, imports and assignments), the closest one
for a typo, and no verdict where the source cannot say."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from assetbook.spec.module_source import missing_name

MODULE = '''
import torch
from pandera.pandas import DataFrameModel as Model
import numpy.linalg

class Net(torch.nn.Module):
    class Inner:
        pass

def make_features(frame):
    hidden_in_a_function = 1

THRESHOLD: float = 0.5
first, (second, third) = 1, (2, 3)
try:
    from fast import Rows
except ImportError:
    Rows = None
if THRESHOLD:
    class Conditional:
        pass
with open(__file__) as opened:
    pass
'''


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "user_module_for_names.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_module_for_names"


@pytest.mark.parametrize("name", ["Net", "make_features", "THRESHOLD", "first", "third", "Rows",
                                  "Conditional", "opened", "Model", "torch", "numpy"])
def test_a_name_the_top_level_binds_is_found_without_importing(module: str, name: str) -> None:
    assert missing_name(f"{module}:{name}") is None
    assert module not in sys.modules


@pytest.mark.parametrize(("name", "expected"), [
    ("Nett", "module 'user_module_for_names' has no 'Nett'; did you mean 'Net'?"),
    ("make_feature", "has no 'make_feature'; did you mean 'make_features'?"),
    ("Inner", "has no 'Inner'"),  # a class's attribute, not the module's
    ("hidden_in_a_function", "has no 'hidden_in_a_function'"),
    ("Zebra", "has no 'Zebra'"),
])
def test_a_name_it_does_not_bind_is_said_with_the_closest(module: str, name: str,
                                                         expected: str) -> None:
    problem = missing_name(f"{module}:{name}")
    assert problem is not None and expected in problem
    if "did you mean" not in expected:
        assert "did you mean" not in problem


@pytest.mark.parametrize("source", [
    "from elsewhere import *\n",
    "def __getattr__(name):\n    return name\n",
    "match 1:\n    case x:\n        pass\n",
])
def test_no_verdict_where_the_source_cannot_say(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                source: str) -> None:
    (tmp_path / "user_module_opaque.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert missing_name("user_module_opaque:Anything") is None


def test_no_verdict_without_python_source() -> None:
    assert missing_name("math:nothing_here") is None  # a built-in module
    assert missing_name("no_such_module_anywhere:Net") is None  # the code version says that
