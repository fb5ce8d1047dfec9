"""Live progress of a Dagster run, read from the instance's event log while the run executes.

Each asset step gets one line: a spinner and the latest message its code logged (a trial, an
epoch) while it runs, then a tick or a cross and its time. Reading the event log, rather than
hooking the executor, shows the same steps whoever executes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dagster as dg
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

POLL_S = 0.5
JOIN_S = 10.0  # a poll is one query of the instance; one that hangs must not hold the command
ENDED = {dg.DagsterEventType.STEP_SUCCESS: "[green]✓[/]",
         dg.DagsterEventType.STEP_FAILURE: "[red]✗[/]",
         dg.DagsterEventType.STEP_SKIPPED: "[yellow]-[/]"}


@dataclass
class StepLine:
    task: TaskID
    started: float
    detail: str = ""


@dataclass
class _Watch:
    instance: dg.DagsterInstance
    tag: tuple[str, str]
    label: str
    progress: Progress
    stop: threading.Event = field(default_factory=threading.Event)
    run_id: str | None = None
    cursor: str | None = None
    steps: dict[str, StepLine] = field(default_factory=dict)

    def poll(self) -> None:
        if self.run_id is None:
            runs = self.instance.get_runs(dg.RunsFilter(tags=dict([self.tag])), limit=1)
            if not runs:
                return
            self.run_id = runs[0].run_id
        connection = self.instance.get_records_for_run(self.run_id, cursor=self.cursor)
        self.cursor = connection.cursor
        for record in connection.records:
            self._show(record.event_log_entry)

    def _show(self, entry: dg.EventLogEntry) -> None:
        step, event = entry.step_key, entry.dagster_event
        if step is None:
            return
        name = f"{step} {self.label}".strip()
        if event is not None and event.event_type == dg.DagsterEventType.STEP_START:
            self.steps[step] = StepLine(self.progress.add_task(name, detail=""), entry.timestamp)
        elif event is not None and event.event_type in ENDED and step in self.steps:
            line = self.steps.pop(step)
            self.progress.remove_task(line.task)
            seconds = entry.timestamp - line.started
            self.progress.console.print(f"{ENDED[event.event_type]} {name}  [dim]{seconds:.1f} s")
        elif event is None and entry.user_message and step in self.steps:
            detail = entry.user_message.splitlines()[0][:80]
            self.progress.update(self.steps[step].task, detail=detail)


class RunProgress:
    """One display for the runs of a command; `watching` follows one run at a time."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 TextColumn("[dim]{task.fields[detail]}"), TimeElapsedColumn(),
                                 console=console, transient=True)

    def note(self, text: str) -> None:
        """A line between the steps' lines: why the next steps run as they do."""
        self.progress.console.print(text, markup=False)

    @contextmanager
    def watching(self, instance: dg.DagsterInstance, tag: tuple[str, str], label: str = ""
                 ) -> Iterator[None]:
        """Show the steps of the run tagged `tag` (started inside the block) as they go."""
        watch = _Watch(instance, tag, label, self.progress)
        thread = threading.Thread(target=_follow, args=(watch,), daemon=True)
        live = self.progress.console.is_terminal  # elsewhere (a log, CI): the ended lines only
        if live:
            self.progress.start()
        thread.start()
        try:
            yield
        finally:
            watch.stop.set()
            thread.join(JOIN_S)
            if not thread.is_alive():
                _poll(watch)  # the last events, written as the run ended
            for line in watch.steps.values():
                self.progress.remove_task(line.task)
            if live:
                self.progress.stop()


def _follow(watch: _Watch) -> None:
    while not watch.stop.wait(POLL_S):
        if not _poll(watch):
            time.sleep(POLL_S)


def _poll(watch: _Watch) -> bool:
    """One poll; False where it failed: a display must never break the run it shows."""
    try:
        watch.poll()
    except Exception:  # noqa: BLE001
        return False
    return True
