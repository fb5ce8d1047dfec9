"""`assetbook ci` on a branch with a worse and with a better model: the report and the exit
code, against a base champion built once from the main branch."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN

pytestmark = pytest.mark.usefixtures("shared_ray")  # searches join one Ray

GIT = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
PNG = b"\x89PNG\r\n\x1a\n"


def git(root: Path, *args: str) -> None:
    subprocess.run([*GIT, "-C", str(root), *args], check=True, capture_output=True)


def edit_spec(root: Path, old: str, new: str) -> None:
    spec = root / "assets" / "loans.yaml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))


def branch(root: Path, name: str, old: str, new: str) -> None:
    git(root, "checkout", "-q", "main")
    git(root, "checkout", "-q", "-b", name)
    edit_spec(root, old, new)
    git(root, "commit", "-qam", name)


def ci(root: Path, report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "assetbook"), "ci", "--base", "main", "--report",
                           str(report)], cwd=root, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=600)


@pytest.mark.slow
def test_worse_model_fails_with_a_report_and_better_one_passes(
    project_dir: Path, tmp_path: Path
) -> None:
    (project_dir / ".gitignore").write_text(".assetbook/\n")
    edit_spec(project_dir, "num_samples: 4", "num_samples: 2")  # a quicker search
    git(project_dir, "init", "-q", "-b", "main")
    git(project_dir, "add", ".")
    git(project_dir, "commit", "-qm", "base")

    branch(project_dir, "worse", "max_epochs: 10\n      batch_size: 256",
           "max_epochs: 1\n      batch_size: 4096")  # one gradient step
    worse = ci(project_dir, tmp_path / "worse" / "report.md")
    report = (tmp_path / "worse" / "report.md").read_text()
    assert worse.returncode == 1, worse.stderr[-3000:]
    built_base = worse.stdout[:worse.stdout.index("\n✓ ")]  # then the branch's own steps
    assert built_base.startswith("the base main: its champion, built once per base commit\n")
    assert re.search(r"\n  ✓ candidate_model  [\d.]+ s\n  ✓ evaluation_report", built_base)
    assert "**FAIL: the gate refuses the candidate" in report
    assert ("· scored on a simulated sample (`--days 6 --rows 500`): 6 days of "
            "`raw_applications`, 2024-01-01 to 2024-01-06, 3,000 rows\n") in report
    assert "Recomputed assets\n\n`candidate_model`, `evaluation_report`" in report
    assert "| roc_auc | 0." in report and "| candidate (v2) | delta |" in report
    assert "❌ roc_auc" in report and "beyond the allowed 0.01" in report
    assert "| validated_applications | LoanApplications_schema | passed |" in report
    for plot in ("metrics.png", "roc_auc_per_day.png"):
        assert f"](report_plots/{plot})" in report
        assert (tmp_path / "worse" / "report_plots" / plot).read_bytes().startswith(PNG)

    again = ci(project_dir, tmp_path / "again" / "report.md")  # the same code: nothing stale
    report = (tmp_path / "again" / "report.md").read_text()
    assert again.returncode == 1, again.stderr[-3000:]
    assert "**FAIL: the gate refuses the candidate" in report and "❌ roc_auc" in report
    assert "Recomputed assets\n\nNothing is stale: an earlier `assetbook ci` of the same code " \
           "made this candidate, judged again below." in report

    marker = next((project_dir / ".assetbook" / "ci").glob("*/base.json"))
    built = marker.stat().st_mtime
    branch(project_dir, "better", "max_epochs: 10\n      batch_size: 256",
           "max_epochs: 14\n      batch_size: 256")
    better = ci(project_dir, tmp_path / "better" / "report.md")
    report = (tmp_path / "better" / "report.md").read_text()
    assert better.returncode == 0, better.stderr[-3000:] + report
    assert "\n  ✓ " not in better.stdout  # the base was not built again
    assert "**PASS: the candidate passes the gate and would be promoted**" in report
    assert "✅ roc_auc" in report and "❌" not in report
    assert marker.stat().st_mtime == built  # the base champion was reused, not rebuilt
