"""`assetbook notebook` on a materialized project: `--print` gives the parameters the pipeline
injected, and the Jupyter it starts listens on the loopback only, serves the notebook with a
real partition injected, runs it cell by cell in a real kernel, and saves it without the
injected cell (so without a new code version)."""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import pty
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from assetbook.cli.notebook import run_notebook_command
from assetbook.cli.parser import build_parser
from assetbook.cli.session import Session
from assetbook.errors import AssetbookError
from assetbook.graph.code_version import notebook_code
from assetbook.graph.internals import CODE_VERSION_TAG
from assetbook.kinds.promote.asset import append_decision
from assetbook.resources.tracking import MlflowTracking
from assetbook.runners.injection import INJECTED_TAG, PARAMETERS_TAG
from tests.conftest import BIN, build_defs
from tests.notebook_loop.conftest import DAYS, Materialized
from tests.ports import free_port
from tests.processes import listening

NOTEBOOK = "notebooks/features.ipynb"
DAY = DAYS[2]


def parse(*args: str) -> argparse.Namespace:
    return build_parser().parse_args(["notebook", *args])


def printed(project: Materialized, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert run_notebook_command(Session(project.root), parse(*args, "--print")) == 0
    return json.loads(capsys.readouterr().out)


def injected_by_pipeline(project: Materialized, report: str) -> dict[str, Any]:
    """The parameters papermill injected in the pipeline's run, kept in its executed notebook."""
    executed = nbformat.read(project.state.reports / report, as_version=4)
    return executed.metadata.papermill.parameters


def test_print_gives_what_the_pipeline_injected(materialized: Materialized,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = injected_by_pipeline(materialized, f"features/{DAYS[0]}__{DAYS[-1]}.ipynb")
    scratch = materialized.state.scratch / "features"
    for args, keys in ((("--last", "4"), DAYS), (("--partition", DAY), [DAY]), ((), DAYS[-1:])):
        parameters = printed(materialized, capsys, "features", *args)
        assert parameters["config"] == pipeline["config"] == {"log_money": True}
        assert [p["key"] for p in parameters["partitions"]] == keys, args
        for mine, theirs in zip(parameters["partitions"],
                                [p for p in pipeline["partitions"] if p["key"] in keys],
                                strict=True):
            assert mine["inputs"] == theirs["inputs"]  # the real upstream files
            assert mine["output"] == str(scratch / f"{mine['key']}.parquet")


def test_print_for_the_evaluation_notebook(materialized: Materialized,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = injected_by_pipeline(materialized, "evaluation_report/v1.ipynb")
    parameters = printed(materialized, capsys, "evaluation_report")
    assert parameters.pop("output") == str(materialized.state.scratch / "evaluation_report"
                                           / "all.json")
    pipeline.pop("output")
    assert parameters == pipeline
    assert [day["key"] for day in parameters["days"]] == DAYS[2:]


def test_once_promoted_the_evaluation_notebook_compares_as_its_gate_did(
        materialized: Materialized, capsys: pytest.CaptureFixture[str]) -> None:
    """The alias `champion` names v1 itself then: not compared with itself, but with what it
    replaced (nothing, for the first)."""
    pipeline = injected_by_pipeline(materialized, "evaluation_report/v1.ipynb")
    registry = MlflowTracking.local(materialized.state.root, None)
    registry.promote("loans_classifier", "1")
    append_decision(materialized.state.promotions, {"model": "loans_classifier",
                                                    "candidate": "1", "passed": True,
                                                    "previous": None})
    try:
        parameters = printed(materialized, capsys, "evaluation_report")
    finally:
        registry.client().delete_registered_model_alias("loans_classifier", "champion")
        materialized.state.promotions.unlink()
    assert (parameters["champion"], parameters["champion_version"]) == (None, None)
    assert {k: v for k, v in parameters.items() if k != "output"} == {
        k: v for k, v in pipeline.items() if k != "output"}


@pytest.mark.parametrize(("args", "message"), [
    (("candidate_model",), "'candidate_model' is a train asset and runs no notebook; assetbook "
     "notebook opens features, evaluation_report"),
    (("features", "--partition", "2024-03-01"), "'features' has no partition '2024-03-01' (its "
     "partitions: 2024-01-01, 2024-01-02, 2024-01-03, 2024-01-04)"),
    (("evaluation_report", "--last", "2"), "'evaluation_report' is not partitioned"),
])
def test_a_wrong_request_is_refused(materialized: Materialized, args: tuple[str, ...],
                                    message: str) -> None:
    with pytest.raises(AssetbookError) as raised:
        run_notebook_command(Session(materialized.root), parse(*args, "--print"))
    assert message in str(raised.value)


def test_a_port_in_use_is_refused_before_jupyter_starts(materialized: Materialized) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:  # another server, e.g. a Jupyter
        port = taken.getsockname()[1]
        with pytest.raises(AssetbookError) as raised:
            run_notebook_command(Session(materialized.root),
                                 parse("features", "--port", str(port), "--no-browser"))
    assert f"port {port} on 127.0.0.1 is in use" in str(raised.value)
    assert "--port" in str(raised.value)


@dataclass(frozen=True)
class Jupyter:
    url: str
    token: str
    process: subprocess.Popen
    log: Path  # what the command printed, and Jupyter's log after it

    def contents(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}/api/contents/{path}", timeout=30,
                         headers={"Authorization": f"token {self.token}"})

    def save(self, path: str, notebook: nbformat.NotebookNode) -> None:
        httpx.put(f"{self.url}/api/contents/{path}", json={"type": "notebook",
                  "content": notebook}, headers={"Authorization": f"token {self.token}"},
                  timeout=30).raise_for_status()


@pytest.fixture(scope="module")
def jupyter(materialized: Materialized, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Jupyter]:
    """`assetbook notebook features --partition DAY`, stopped at the end by one Ctrl-C (a
    SIGINT to its process group, as a terminal sends it): Jupyter stops without asking."""
    port, log = free_port(), tmp_path_factory.mktemp("jupyter") / "jupyter.log"
    env = {**os.environ, "ASSETBOOK_STATE": str(materialized.state.root)}
    terminal, typed_on = pty.openpty()  # Jupyter asks before a Ctrl-C stops it on a terminal
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(BIN / "assetbook"), "--project", str(materialized.root), "notebook", "features",
             "--partition", DAY, "--port", str(port), "--no-browser"],
            stdin=typed_on, stdout=output, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
    os.close(typed_on)
    try:
        found, deadline = None, time.monotonic() + 120
        while found is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            found = re.search(r"Jupyter: (http://127\.0\.0\.1:\d+)/lab/tree/\S+\?token=(\w+)",
                              log.read_text())
        assert found, log.read_text()
        url, token = found.groups()
        # the URL is printed once Jupyter listens: following it at once gets an answer
        assert httpx.get(f"{url}/api/status?token={token}", timeout=30).status_code == 200
        yield Jupyter(url, token, process, log)
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0, log.read_text()[-3000:]
    finally:  # whatever of its session is left (none, unless a step above failed)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        os.close(terminal)
    with pytest.raises(httpx.ConnectError):  # stopped: nothing answers on the port any more
        httpx.get(f"{url}/api", timeout=5)


def test_jupyter_listens_on_the_loopback_only_behind_a_token(jupyter: Jupyter) -> None:
    port = int(jupyter.url.rsplit(":", 1)[1])
    assert listening({jupyter.process.pid}) == {("127.0.0.1", port)}
    assert jupyter.contents(NOTEBOOK).status_code == 200
    refused = httpx.get(f"{jupyter.url}/api/contents/{NOTEBOOK}", timeout=30)
    assert refused.status_code == 403
    # Jupyter's own log says errors only (without -v): not each extension, request and kernel,
    # nor that a notebook run elsewhere is "not trusted"
    assert not re.findall(r"^\[[DIW] .*", jupyter.log.read_text(), re.M)


def test_the_opened_notebook_runs_on_the_real_day_and_saves_clean(
        jupyter: Jupyter, materialized: Materialized, capsys: pytest.CaptureFixture[str]
) -> None:
    path = materialized.root / NOTEBOOK
    code_before = notebook_code(path)
    notebook = nbformat.from_dict(jupyter.contents(NOTEBOOK).json()["content"])
    tags = [cell.metadata.get("tags", []) for cell in notebook.cells]
    position = tags.index([INJECTED_TAG])
    assert PARAMETERS_TAG in tags[position - 1]  # right after the parameters cell
    injected = ast.parse(notebook.cells[position].source)
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in injected.body}
    assert values == printed(materialized, capsys, "features", "--partition", DAY)  # data only

    # Run it as the user does: cell by cell, in a kernel started in the project root.
    probe = nbformat.v4.new_code_cell("from assetbook import load\n"
                                      f"stored = load('features', partition='{DAY}')\n"
                                      "print(len(stored), stored.equals(features))")
    client = NotebookClient(notebook, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(materialized.root)}})
    with client.setup_kernel():
        for index, cell in enumerate(list(notebook.cells)):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        notebook.cells.append(probe)  # a scratch cell, dropped before saving
        client.execute_cell(probe, len(notebook.cells) - 1)
        notebook.cells.pop()
    written = pd.read_parquet(materialized.state.scratch / "features" / f"{DAY}.parquet")
    stored = pd.read_parquet(materialized.state.artifacts / "features" / f"{DAY}.parquet")
    pd.testing.assert_frame_equal(written, stored)  # the real day, not the notebook's demo day
    assert probe.outputs[0]["text"] == "300 True\n"  # `load` in the kernel: the same frame

    jupyter.save(NOTEBOOK, notebook)
    on_disk = nbformat.read(path, as_version=4)
    assert not any(INJECTED_TAG in cell.metadata.get("tags", []) for cell in on_disk.cells)
    assert any(cell.get("outputs") for cell in on_disk.cells)  # the executed notebook was saved
    assert notebook_code(path) == code_before
    with materialized.instance() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("features"))
    recorded = event.asset_materialization.tags[CODE_VERSION_TAG]
    key = dg.AssetKey("features")
    assert build_defs(materialized.root).get_assets_def(key).code_versions_by_key[key] == recorded
