"""The process table from /proc: which processes a server or a step left, and their memory
(the reliability tests and the serving soak benchmark read it)."""

from __future__ import annotations

import os
from pathlib import Path


def processes() -> dict[int, tuple[int, int]]:
    """Every process now: pid -> (parent pid, resident bytes)."""
    table = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        table[int(stat.parent.name)] = (int(fields[1]), int(fields[21]) * page)
    return table


def tree(roots: set[int], table: dict[int, tuple[int, int]]) -> set[int]:
    """The roots that are alive and all their descendants."""
    found = roots & table.keys()
    while grown := {pid for pid, (parent, _) in table.items() if parent in found} - found:
        found |= grown
    return found


def resident_mb(roots: set[int]) -> float:
    """Resident memory of the roots and all their descendants."""
    table = processes()
    return sum(table[pid][1] for pid in tree(roots, table)) / 2**20
