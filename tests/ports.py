"""Ports for the servers the tests start.

A port is chosen long before its server binds it (a project's serve port is bound by nginx
minutes later, at the end of its first run), so a port the OS handed out as free can be taken
meanwhile by anything that binds port 0: Ray, Dagster's gRPC servers, BentoML's workers all
do, and they get ports from the ephemeral range. The tests' ports come from below that range
and above Ray's worker ports (10002-19999), where nothing binds unless asked to.
"""

from __future__ import annotations

import random
import socket

LOW, HIGH = 20000, 32000  # below /proc/sys/net/ipv4/ip_local_port_range (32768-60999)
_given: set[int] = set()
_pick = random.Random()  # seeded from the OS: pytest-xdist's workers pick differently


def free_port() -> int:
    """A loopback port no other test of this process was given, free now."""
    while True:
        port = _pick.randrange(LOW, HIGH)
        if port in _given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
