"""The command line's output when its reader goes away (`assetbook run | head`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import BIN

# The command's standard output is a pipe whose reader has gone, as `| head` leaves it.
GONE_READER = """
import os, sys
from pathlib import Path
from assetbook.cli.output import command_output
reader, writer = os.pipe()
os.close(reader)
os.dup2(writer, 1)
with command_output(Path(sys.argv[1]), "run") as output:
    for line in range(100):
        output.out.print(f"line {line}")
"""


def test_a_reader_that_goes_away_ends_the_command_without_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run([str(BIN / "python"), "-c", GONE_READER, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == ""
