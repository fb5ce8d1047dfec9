"""What every command loads at its start (`assetbook.cli.commands`) leaves out what only some
commands use: matplotlib (~0.4 s) is imported by the commands that draw, when they draw."""

from __future__ import annotations

import subprocess

from tests.conftest import BIN

LOADED = """import sys
import assetbook.cli.commands
print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))
"""


def test_the_commands_start_without_matplotlib() -> None:
    done = subprocess.run([str(BIN / "python"), "-c", LOADED], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]"
