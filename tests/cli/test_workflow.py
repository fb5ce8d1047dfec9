"""The GitHub workflow of `assetbook ci`: it must see the base branch's commit and judge against
it. A depth-1 checkout without `--base` built no base champion: every candidate was compared
with nothing."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "assetbook-ci.yml"


def steps() -> list[dict[str, Any]]:
    (job,) = yaml.safe_load(WORKFLOW.read_text())["jobs"].values()
    return job["steps"]


def step(needle: str) -> dict[str, Any]:
    """The one step that uses `needle` (an action) or whose script runs it."""
    (found,) = [s for s in steps() if needle in s.get("uses", "") or needle in s.get("run", "")]
    return found


def test_the_checkout_has_the_whole_history() -> None:
    checkout = step("actions/checkout")
    assert checkout.get("with", {}).get("fetch-depth") == 0, checkout  # with the base commit


def test_ci_runs_this_checkout_against_the_pull_requests_base_branch() -> None:
    ci = step("assetbook ci")
    words = ci["run"].split()
    assert "--base" in words, ci["run"]
    base = words[words.index("--base") + 1]
    assert base.replace('"$BASE"', ci.get("env", {}).get("BASE", "")) == (
        "origin/${{ github.base_ref }}")
    assert "pip install -e ." in step("pip install")["run"]  # this branch's Assetbook
