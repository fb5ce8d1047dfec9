"""matplotlib for the commands that draw (`ci`'s report, `history --plot`), imported when they
draw: pyplot takes ~0.4 s to import, which every other command would pay at its start."""

from __future__ import annotations

from functools import cache
from types import ModuleType


@cache
def pyplot() -> ModuleType:
    """matplotlib.pyplot on the Agg backend (files only: CI machines have no display), set
    up once a process."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
