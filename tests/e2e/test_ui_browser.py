"""A real browser on the Dagster UI: headless Chromium renders the default pipeline's asset
graph, the page names its assets, and a screenshot is kept for people to look at."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.servers import (
    artifacts_folder,
    dagster_dev,
    graphql,
    wait_for_assets,
)
from tests.ports import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ASSETS = ("raw_applications", "validated_applications", "features", "candidate_model",
          "champion", "bento", "deployment")
# Wide enough that the UI draws full asset nodes (full names, status) rather than the
# minimal boxes with shortened names it draws below a zoom level.
WINDOW = "--window-size=3200,1400"


def chromium(url: str, *args: str) -> str:
    """Headless Chromium on `url`, given virtual time to run the UI's scripts and queries
    (no background networking: this machine reaches nothing but the loopback)."""
    assert CHROMIUM is not None, ("chromium is not installed: `make test` installs it "
                                  "(`make chromium`: apt-get install chromium)")
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", "--virtual-time-budget=20000", WINDOW, *args,
         url], capture_output=True, text=True, timeout=180, check=True)
    return result.stdout


def rendered(page: str, names: tuple[str, ...], attempts: int = 5) -> str:
    """The page's DOM once it shows every name: on a loaded machine the UI's GraphQL
    answers can come after the virtual time budget, so a render that is not there yet is
    tried again."""
    for _ in range(attempts):
        dom = chromium(page, "--dump-dom")
        if all(f">{name}<" in dom for name in names):
            break
    return dom


def graph_page(url: str, nodes: list[dict]) -> str:
    """The global asset lineage with every group expanded (the UI names a group
    `global@global:<group>` in its `expanded` parameter)."""
    groups = sorted({node["groupName"] for node in nodes})
    return f"{url}/asset-groups?expanded=" + ",".join(f"global@global:{g}" for g in groups)


@pytest.mark.slow
def test_asset_graph_renders_the_pipeline_in_a_browser(project_dir: Path,
                                                        tmp_path: Path) -> None:
    screenshot = artifacts_folder() / "asset-graph.png"
    screenshot.unlink(missing_ok=True)
    with dagster_dev(project_dir, tmp_path / "home", free_port()) as url:
        page = graph_page(url, wait_for_assets(url))
        graphql(url, "mutation { setNuxSeen }")  # the first visit's community prompt: Skip
        dom = rendered(page, ASSETS)
        chromium(page, f"--screenshot={screenshot}")
    missing = [name for name in ASSETS if f">{name}<" not in dom]
    assert not missing, f"the graph does not show {missing}"
    assert "Join the Dagster community" not in dom
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"\nscreenshot of the asset graph: {screenshot}")
