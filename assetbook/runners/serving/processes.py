"""The machine's process table, read from /proc: which processes live, which descend from
a server, which belong to its group, and which carry a BentoML home; a server's
stop uses them to end every process it left, and nothing else.

Processes are named by (pid, start time) wherever they are held across reads: a pid alone may
be reused by another process meanwhile.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple


def alive(pid: int) -> bool:
    """Whether the process runs: a zombie, which only waits for its parent to reap it, does
    not (`kill(pid, 0)` cannot tell them apart)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        pass
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether the process has exited and waits to be reaped (/proc tells; without it, as on
    macOS, it counts as running)."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return fields is not None and fields[0] == "Z"


Identity = tuple[int, int]
"""(pid, start time): one process for good, where a pid alone may be reused."""


class Process(NamedTuple):
    pid: int
    parent: int
    group: int
    started: int  # clock ticks after boot

    @property
    def identity(self) -> Identity:
        return self.pid, self.started


def live_processes() -> Iterator[Process]:
    """Every live process (zombies, which only wait to be reaped, left out)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields is not None and fields[0] != "Z":
            yield Process(int(stat.parent.name), int(fields[1]), int(fields[2]),
                          int(fields[19]))


def _stat_fields(stat: Path) -> list[str] | None:
    """The fields of a `/proc/<pid>/stat` after the command's name, its state first; None once
    the process is gone."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children(parent: int) -> set[int]:
    return {process.pid for process in live_processes() if process.parent == parent}


def descendants(root: int) -> set[Identity]:
    """The live processes under a process, at any depth."""
    live = list(live_processes())
    pids: set[int] = {root}
    while grown := {process.pid for process in live if process.parent in pids} - pids:
        pids |= grown
    return {process.identity for process in live if process.pid in pids - {root}}


def left_running(pgid: int, under: set[Identity]) -> set[int]:
    """The live processes of the group, and those of `under` still alive."""
    return {process.pid for process in live_processes()
            if process.group == pgid or process.identity in under}


def bentoml_homes() -> Iterator[tuple[int, Path]]:
    """Each live process that has a BentoML home in its environment, and that home."""
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            variables = environ.read_bytes().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        for variable in variables:
            if variable.startswith(b"BENTOML_HOME="):
                yield int(environ.parent.name), Path(os.fsdecode(variable[13:]))


def exited(pid: int, timeout_s: float) -> bool:
    """Whether a process that is not our child (nginx's daemon) exits within the time."""
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
