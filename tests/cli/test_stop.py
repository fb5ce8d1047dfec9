"""`assetbook stop` reads the specs and the state folder only: it never imports Dagster, so it
answers at once; a spec it cannot read is an error that names it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import BIN, copy_example

STOP = """import json, sys
from assetbook.cli.main import main
code = main(["--project", sys.argv[1], "stop"])
print(json.dumps({"code": code, "dagster": "dagster" in sys.modules}))
"""


def stop(root: Path) -> tuple[dict, subprocess.CompletedProcess]:
    done = subprocess.run([str(BIN / "python"), "-c", STOP, str(root)], capture_output=True,
                          text=True, timeout=120, env={"ASSETBOOK_STATE": str(root / ".st"),
                                                       "PATH": str(BIN)})
    return json.loads(done.stdout.splitlines()[-1]), done


def test_stop_answers_without_importing_dagster(tmp_path: Path) -> None:
    outcome, done = stop(copy_example(tmp_path / "proj"))

    assert outcome == {"code": 0, "dagster": False}, done.stderr
    assert done.stdout.splitlines()[0] == "nothing was running"


def test_stop_on_a_broken_spec_names_it(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "proj")
    (root / "assets" / "loans.yaml").write_text("pipeline: loans\nassets: [not, a, mapping]\n")

    outcome, done = stop(root)

    assert outcome["code"] == 1
    assert done.stderr.startswith("assetbook: error:") and "loans.yaml" in done.stderr
