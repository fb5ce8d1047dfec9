"""What the command line prints: Assetbook's own lines for people, the rest to a log file.

At the default verbosity the process's standard output and error (its own warnings and
third-party logs, and every child it starts: kernels, Ray workers, training processes,
servers) are redirected to a log file under the state folder; rich writes to the terminal
through copies of the original descriptors. `-v` leaves everything on the terminal.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from assetbook.errors import AssetbookError

if TYPE_CHECKING:
    from assetbook.cli.session import Session

QUIET_COMMANDS = ("run", "materialize", "ci", "simulate", "status", "promote", "rollback",
                  "serve", "lineage", "history", "gc", "reproduce")


@dataclass(frozen=True)
class Output:
    out: Console
    err: Console
    log: Path | None  # where third-party output went; None when it stays on the terminal


@contextmanager
def command_output(logs: Path | None, command: str) -> Iterator[Output]:
    """Consoles for a command; with `logs`, file descriptors 1 and 2 go to a new log file in
    that folder until the command ends."""
    if logs is None:
        yield Output(Console(highlight=False, soft_wrap=True),
                     Console(stderr=True, highlight=False, soft_wrap=True), None)
        return
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{command}-{datetime.now():%Y%m%d-%H%M%S}.log"
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = (os.fdopen(os.dup(saved[0]), "w", buffering=1),
                os.fdopen(os.dup(saved[1]), "w", buffering=1))
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)
    try:
        yield Output(Console(file=terminal[0], highlight=False, soft_wrap=True),
                     Console(file=terminal[1], highlight=False, soft_wrap=True), log)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        for stream in terminal:
            with suppress(BrokenPipeError):  # `assetbook run | head`: the reader has gone
                stream.close()


def with_output(session: Session, command: str, verbose: bool,
                body: Callable[[Output], int]) -> int:
    """Run a command's `body` with its consoles: a quiet command's third-party output goes to
    a log in the project's state folder; an error is one line (and where the log is)."""
    quiet = command in QUIET_COMMANDS and not verbose
    try:  # the state folder reads the profile, which may be malformed
        logs = session.state.root / "logs" if quiet and (session.root / "assets").is_dir() \
            else None
    except AssetbookError as exc:
        print(f"assetbook: error: {exc}", file=sys.stderr)
        return 1
    with command_output(logs, command) as output:
        try:
            return body(output)
        except AssetbookError as exc:
            output.err.print(f"assetbook: error: {exc}", markup=False)
            if output.log is not None:
                output.err.print(f"full log: {output.log}", markup=False)
            return 1
        except Exception as exc:  # a fault of Assetbook's, or of a library below it
            if output.log is None:  # -v: the traceback, on the terminal, as it comes
                raise
            traceback.print_exc()  # into the log: descriptor 2 is the log's still
            output.err.print(f"assetbook: internal error: {type(exc).__name__}: {exc}\n"
                             "a fault of Assetbook's, not of the project: please report it "
                             f"with its traceback, in the full log: {output.log}", markup=False)
            return 1
