"""The `ledger` fixture of the reliability tests (see ledger.py)."""

from __future__ import annotations

import pytest

from tests.reliability.ledger import LEDGER, Ledger


@pytest.fixture
def ledger() -> Ledger:
    return LEDGER
