"""The live step lines of a run, read from a real instance's event log, and a store that
stops answering, which must not hold the command."""

from __future__ import annotations

import threading
import time

import dagster as dg
import pytest
from rich.console import Console

from assetbook.cli import progress
from assetbook.cli.progress import RunProgress

TAG = ("assetbook/test_step", "one")


@dg.asset
def numbers() -> list[int]:
    return [1, 2, 3]


def test_each_ended_step_gets_its_line() -> None:
    console = Console(record=True, width=100, force_terminal=False)
    with dg.DagsterInstance.ephemeral() as instance, \
            RunProgress(console).watching(instance, TAG, "2024-01-01"):
        assert dg.materialize([numbers], instance=instance, tags=dict([TAG])).success
    assert "✓ numbers 2024-01-01" in console.export_text()


def test_a_poll_that_hangs_does_not_hold_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    hung = threading.Event()

    def hang(*_: object, **__: object) -> None:
        hung.set()
        time.sleep(20)

    monkeypatch.setattr(progress, "JOIN_S", 1.0)
    console = Console(record=True, width=100, force_terminal=False)
    with dg.DagsterInstance.ephemeral() as instance:
        monkeypatch.setattr(instance, "get_runs", hang)  # the store stops answering
        started = time.monotonic()
        with RunProgress(console).watching(instance, TAG):
            assert hung.wait(10)
        assert time.monotonic() - started < 5
