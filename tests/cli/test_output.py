"""The command line's output when its reader goes away (`assetbook run | head`), and when
Assetbook itself fails."""

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


# A quiet command whose own code fails as no user error does (a bug).
FAULT = """
import sys
from pathlib import Path
from assetbook.cli.output import with_output
from assetbook.cli.session import Session
def body(output):
    output.out.print("reading")
    raise KeyError("a bug")
sys.exit(with_output(Session(Path(sys.argv[1])), "status", sys.argv[2] == "-v", body))
"""


def test_a_fault_of_assetbook_is_one_line_and_its_traceback_goes_to_the_log(
        project_dir: Path) -> None:
    done = subprocess.run([str(BIN / "python"), "-c", FAULT, str(project_dir), ""],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == "reading\n"
    said, reported = done.stderr.splitlines()
    assert said == "assetbook: internal error: KeyError: 'a bug'"
    log = Path(reported.rsplit(": ", 1)[1])
    assert reported.startswith("a fault of Assetbook's, not of the project: please report it")
    assert "Traceback" not in done.stderr
    assert "in body\nKeyError: 'a bug'" in log.read_text()  # where it was raised
    verbose = subprocess.run([str(BIN / "python"), "-c", FAULT, str(project_dir), "-v"],
                             capture_output=True, text=True, timeout=60)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr  # -v: all of it
