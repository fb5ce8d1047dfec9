"""The process table from /proc: which processes a server or a step left, their memory, and
the sockets they listen on (the reliability tests and the serving soak benchmark read it)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

# A process known across time: its pid and its start (clock ticks after boot). A pid alone is
# not one: a busy machine reuses pids within seconds (pid_max is 32768 here).
Identity = tuple[int, int]


def processes() -> dict[int, tuple[int, int]]:
    """Every live process now: pid -> (parent pid, resident bytes)."""
    page = os.sysconf("SC_PAGE_SIZE")
    return {pid: (int(fields[1]), int(fields[21]) * page) for pid, fields in _live_stats()}


def identities(pids: Iterable[int]) -> set[Identity]:
    """The live ones of `pids`, each with its start."""
    wanted = set(pids)
    return {(pid, int(fields[19])) for pid, fields in _live_stats() if pid in wanted}


def still_running(known: Iterable[Identity]) -> set[int]:
    """The pids of those processes that still run: a pid another process holds now is not."""
    known = set(known)
    return {pid for pid, _ in known & identities(pid for pid, _ in known)}


def group_members(pgid: int) -> set[int]:
    """The live processes of a process group."""
    return {pid for pid, fields in _live_stats() if int(fields[2]) == pgid}


def _live_stats() -> Iterator[tuple[int, list[str]]]:
    """Each live process's pid and the fields of its /proc stat after the command's name.
    Zombies, which have exited and only wait to be reaped, are left out."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if fields[0] != "Z":
            yield int(stat.parent.name), fields


def command_line(pid: int) -> str:
    """What a process runs ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


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


def listening(roots: set[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that the roots or their
    descendants hold open, read from /proc/net/tcp{,6} and each process's open files."""
    inodes = set()
    for pid in tree(roots, processes()):
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:  # gone meanwhile
            continue
        inodes |= {link[8:-1] for link in links if link.startswith("socket:[")}
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                found.add((_ip(address), int(port, 16)))
    return found


def _ip(hex_address: str) -> str:
    """/proc/net/tcp's little-endian hex address as text (IPv4, or IPv6 as 32 hex digits)."""
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    return str(ipaddress.IPv6Address(b"".join(words)))


def kernels_of_this_process() -> list:
    """The live Jupyter kernels this process started (as `psutil.Process`es); a kernel shut
    down but not yet reaped (a zombie) is not one."""
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(
                    child.cmdline()):
                found.append(child)
        except psutil.Error:  # gone meanwhile
            continue
    return found
