"""`assetbook stop` and `assetbook simulate` read the specs and the state folder only: they
never import Dagster, so they answer at once; a spec or a source they cannot use is an error
that names it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import BIN, copy_example

COMMAND = """import json, sys
from assetbook.cli.main import main
code = main(["--project", sys.argv[1], *sys.argv[2:]])
print(json.dumps({"code": code, "dagster": "dagster" in sys.modules}))
"""


def command(root: Path, *args: str) -> tuple[dict, subprocess.CompletedProcess]:
    done = subprocess.run([str(BIN / "python"), "-c", COMMAND, str(root), *args],
                          capture_output=True, text=True, timeout=120,
                          env={"ASSETBOOK_STATE": str(root / ".st"), "PATH": str(BIN)})
    return json.loads(done.stdout.splitlines()[-1]), done


def test_stop_answers_without_importing_dagster(tmp_path: Path) -> None:
    outcome, done = command(copy_example(tmp_path / "proj"), "stop")

    assert outcome == {"code": 0, "dagster": False}, done.stderr
    assert done.stdout.splitlines()[0] == "nothing was running"


def test_stop_on_a_broken_spec_names_it(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "proj")
    (root / "assets" / "loans.yaml").write_text("pipeline: loans\nassets: [not, a, mapping]\n")

    outcome, done = command(root, "stop")

    assert outcome["code"] == 1
    assert done.stderr.startswith("assetbook: error:") and "loans.yaml" in done.stderr


def test_simulate_lands_days_without_importing_dagster(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "proj")

    outcome, done = command(root, "simulate", "--days", "2")

    assert outcome == {"code": 0, "dagster": False}, done.stderr
    assert done.stdout.splitlines()[0] == "landed 2 day(s): 2024-01-01, 2024-01-02"
    landed = sorted(p.name for p in (root / ".st").rglob("2024-01-0*.parquet"))
    assert landed == ["2024-01-01.parquet", "2024-01-02.parquet"]


def test_simulate_of_an_unknown_source_names_the_sources(tmp_path: Path) -> None:
    outcome, done = command(copy_example(tmp_path / "proj"), "simulate", "--source", "nope")

    assert outcome["code"] == 1
    assert "no landing source with a `simulator` named 'nope' (the project's landing sources: " \
        "raw_applications)" in done.stderr


def test_simulate_without_a_simulator_says_there_is_none(tmp_path: Path) -> None:
    """A project on its own files (as `init --data` writes one) has nothing to simulate."""
    root = copy_example(tmp_path / "proj")
    spec = root / "assets" / "loans.yaml"
    text = spec.read_text()
    start, end = text.index("      simulator:"), text.index("\n  validated_applications:")
    spec.write_text(text[:start] + text[end + 1:])

    outcome, done = command(root, "simulate", "--days", "2")

    assert outcome["code"] == 1
    assert "no landing source has a `simulator` to make days with (the project's: " \
        "raw_applications): its days are the files landed in its folder" in done.stderr
