"""matplotlib for the commands that draw (`ci`'s report, `history --plot`), imported when they
draw: pyplot takes ~0.4 s to import, which every other command would pay at its start."""

from __future__ import annotations

from types import ModuleType


def pyplot() -> ModuleType:
    """matplotlib.pyplot on the Agg backend: files only, CI machines have no display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
