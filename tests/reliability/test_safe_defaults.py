"""Safe defaults: what serves listens on the loopback only, model files load as weights and
never as pickled code, no key or file name leaves the state folder, and notebook parameters
arrive as data. Each is shown on the code that does it, without starting servers (the served
sockets are checked where servers run: tests/e2e/test_delivery.py and test_dagster_dev.py)."""

from __future__ import annotations

import ast
import base64
import json
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import nbformat
import pandas as pd
import pytest
import torch
import yaml

from assetbook.data.landing import landed_files, read_landed_file
from assetbook.errors import ArtifactError, SourceError
from assetbook.graph.context import BuildContext
from assetbook.kinds.deploy import DeployAssetSpec
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.state import StateFolder, safe_part
from assetbook.runners.notebook import NotebookRunner
from assetbook.runners.serving.environments import deployer
from assetbook.runners.serving.nginx import nginx_config
from assetbook.serving.model_file import ModelFile
from assetbook.spec.loader import ProjectSpec
from tests.conftest import REPO, build_defs, failure_messages, materialize
from tests.reliability.ledger import Ledger

AREA = "safe defaults"
LOOPBACK = "127.0.0.1"
ESCAPES = ["../../etc/passwd", "..", "a/b", "/etc/passwd", "a\x00b", "", ".", ".hidden",
           "a/../../b", "..\\..\\windows", "~root", "day\nnext"]


# -- the service binds the loopback ------------------------------------------------------------


def test_the_front_is_configured_for_the_loopback_only(
    spec: ProjectSpec, state: StateFolder, tmp_path: Path, ledger: Ledger
) -> None:
    """The nginx configuration the deployer writes, and the URL it records; the sockets of
    the running servers are checked in tests/e2e/test_delivery.py."""
    ledger.record(AREA, cases=2)
    deploy = next(d.name for d in spec.assets.values() if isinstance(d.spec, DeployAssetSpec))
    target = deployer(state, spec, deploy)
    assert target.url == f"http://{LOOPBACK}:{target.front_port}"
    config = nginx_config(tmp_path, target.front_port, 41000)
    assert re.findall(r"listen\s+([^;]+);", config) == [f"{LOOPBACK}:{target.front_port}"]
    assert re.findall(r"server\s+([\d.]+):\d+", config) == [LOOPBACK]


# -- model files are weights only -------------------------------------------------------------


class Exploit:
    """What a tampered model file would carry: unpickling it runs a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


def test_a_model_file_with_pickled_code_is_refused(tmp_path: Path, ledger: Ledger) -> None:
    ledger.record(AREA, faults=1)
    marker, path = tmp_path / "pwned", tmp_path / "model.pt"
    torch.save({"format": "assetbook-model/1", "state_dict": {}, "model": Exploit(marker)},
               path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        ModelFile.load(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the control: an unpickling load does run it
    assert marker.exists()


UNPICKLERS = {("pickle", "load"), ("pickle", "loads"), ("dill", "load"), ("dill", "loads"),
              ("cloudpickle", "load"), ("cloudpickle", "loads"), ("joblib", "load")}


def python_sources() -> Iterator[tuple[str, str]]:
    """Every Python source the pipeline runs: the package, the bentos and notebook cells."""
    for path in sorted([*(REPO / "project").rglob("*.py"), *(REPO / "bentos").rglob("*.py")]):
        yield str(path.relative_to(REPO)), path.read_text()
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "code":
                code = "\n".join(line for line in cell.source.splitlines()
                                 if not line.lstrip().startswith(("%", "!")))
                yield f"{path.relative_to(REPO)} cell {index}", code


def unsafe_loads(source: str) -> list[int]:
    """Lines that unpickle: `torch.load` without `weights_only=True`, or a pickle loader."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)):
            continue
        call = (node.func.value.id, node.func.attr)
        weights_only = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant)
                           and k.value.value is True for k in node.keywords)
        if call in UNPICKLERS or (call == ("torch", "load") and not weights_only):
            lines.append(node.lineno)
    return lines


def test_no_code_loads_a_model_by_unpickling(ledger: Ledger) -> None:
    sources = dict(python_sources())
    ledger.record(AREA)
    assert unsafe_loads("torch.load(p)\ntorch.load(p, weights_only=True)\npickle.loads(b)") \
        == [1, 3]  # the scan itself sees what it is meant to
    found = {where: lines for where, source in sources.items() if (lines := unsafe_loads(source))}
    assert found == {}


# -- nothing leaves the state folder -----------------------------------------------------------


@pytest.mark.parametrize("key", ESCAPES, ids=repr)
def test_a_key_that_could_escape_is_refused_everywhere_it_becomes_a_path(
    key: str, spec: ProjectSpec, state: StateFolder, ledger: Ledger
) -> None:
    ledger.record(AREA, faults=1)
    store = ArtifactIOManager(root=str(state.artifacts))
    ctx = BuildContext(spec, state)
    attempts = [
        lambda: safe_part(key),
        lambda: state.landing(key),
        lambda: state.report_path(key, "2024-01-01", ".ipynb"),
        lambda: state.report_path("features", key, ".ipynb"),
        lambda: store.path_for(dg.AssetKey(["features"]), key, ".parquet"),
        lambda: store.path_for(dg.AssetKey([key]), "2024-01-01", ".parquet"),
        lambda: ctx.staging_path(key, "0123456789", "2024-01-01", ".parquet"),
        lambda: ctx.staging_path("features", "0123456789", key, ".parquet"),
    ]
    for attempt in attempts:
        with pytest.raises(ArtifactError, match="cannot be used in a path"):
            attempt()


def test_safe_keys_stay_inside_the_state_folder(spec: ProjectSpec, state: StateFolder) -> None:
    """The positive side: ordinary keys and range labels map to paths under the root."""
    store = ArtifactIOManager(root=str(state.artifacts))
    ctx = BuildContext(spec, state)
    for key in ("2024-01-01", "2024-01-01__2024-01-03", "all", "eu_west.v2"):
        for path in (state.report_path("features", key, ".html"),
                     store.path_for(dg.AssetKey(["features"]), key, ".parquet"),
                     ctx.staging_path("features", "0123456789", key, ".parquet")):
            assert path.resolve().is_relative_to(state.root)


@pytest.fixture
def landing_folder(state: StateFolder) -> Path:
    folder = state.landing("raw_applications")
    folder.mkdir(parents=True)
    return folder


def test_landed_names_that_could_escape_are_not_partitions(
    landing_folder: Path, tmp_path: Path, ledger: Ledger
) -> None:
    """File names cannot hold '/', but dots can, and a link can point anywhere."""
    outside = tmp_path / "secret.csv"
    outside.write_text("salary\n1\n")
    names = ("..csv", "...csv", "a..b.parquet", "~.csv", " 2024-01-01.csv", "2024-01-01\n.csv")
    for name in names:
        (landing_folder / name).write_text("salary\n1\n")
    (landing_folder / "2024-01-02.csv").symlink_to(outside)
    (landing_folder / "2024-01-03.csv").symlink_to(os.path.relpath(outside, landing_folder))
    ledger.record(AREA, faults=len(names) + 2)
    assert landed_files(landing_folder, ("csv", "parquet")) == {}
    escape = os.path.relpath(outside.with_suffix(""), landing_folder)
    for key in (escape, "2024-01-02", "2024-01-03"):
        with pytest.raises(SourceError, match="no landed file"):
            read_landed_file(landing_folder, key, ("csv",))


def test_a_link_inside_the_landing_folder_is_still_read(landing_folder: Path) -> None:
    """Links are refused for where they lead, not for being links."""
    (landing_folder / "real").mkdir()
    pd.DataFrame({"salary": [1.0]}).to_csv(landing_folder / "real" / "day.csv", index=False)
    (landing_folder / "2024-01-04.csv").symlink_to(Path("real") / "day.csv")
    assert list(landed_files(landing_folder, ("csv",))) == ["2024-01-04"]


def test_a_partition_added_by_hand_cannot_write_outside(
    project_dir: Path, state: StateFolder, instance: dg.DagsterInstance, tmp_path: Path,
    ledger: Ledger
) -> None:
    """A dynamic partition key is any string the UI or API accepts; its run fails and
    writes nothing, even with a readable file where the key points."""
    key = "../../../outside"
    pd.DataFrame({"salary": [1.0]}).to_parquet(project_dir / "outside.parquet")
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    ledger.record(AREA, faults=1)
    result = materialize(build_defs(project_dir), instance,
                         ["raw_applications", "validated_applications"], [key])
    assert not result.success
    assert f"no landed file for partition '{key}'" in failure_messages(result)
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    assert all(p.is_relative_to(state.root) and "outside" not in p.name for p in written)


# -- notebook parameters are data --------------------------------------------------------------

HOSTILE = [
    "\"; import os; os.system('touch {marker}') #",
    "'; import os; os.system(\"touch {marker}\") #",
    '"""\nimport os; os.system("touch {marker}")\n"""',
    "\\\"; import os; os.system('touch {marker}') #",
    "x\n__import__('os').system('touch {marker}')",
    "{{__import__('os').system('touch {marker}')}}",
    "\u2028__import__('os').system('touch {marker}')",
]
ECHO = """import json
for partition in partitions:
    with open(partition["output"], "w") as handle:
        json.dump({"key": partition["key"], "config": config}, handle)
"""


@pytest.fixture
def echo_notebook(tmp_path: Path) -> Path:
    """A notebook that writes back, for each partition, its key and the config it was given."""
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("partitions = []\nconfig = {}")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(ECHO)]
    path = tmp_path / "echo.ipynb"
    nbformat.write(notebook, path)
    return path


def run_echo(notebook: Path, keys: list[str], config: dict) -> list[dict]:
    folder = notebook.parent
    partitions = [{"key": key, "inputs": {}, "output": str(folder / f"out-{i}.json")}
                  for i, key in enumerate(keys)]
    NotebookRunner().run(notebook, {"partitions": partitions, "config": config},
                         folder / "executed.ipynb", folder, "asset 'echo'")
    return [json.loads(Path(p["output"]).read_text()) for p in partitions]


def test_hostile_keys_and_config_arrive_as_strings(
    echo_notebook: Path, tmp_path: Path, ledger: Ledger
) -> None:
    marker = tmp_path / "pwned"
    payloads = [text.format(marker=marker) for text in HOSTILE]
    config = {"values": payloads, "nested": {payload: [payload] for payload in payloads}}
    ledger.record(AREA, faults=3 * len(payloads))
    echoed = run_echo(echo_notebook, payloads, config)
    assert [e["key"] for e in echoed] == payloads
    assert all(e["config"] == config for e in echoed)
    assert not marker.exists()


def test_a_config_value_yaml_can_hold_but_json_cannot_arrives_as_data(
    echo_notebook: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    code = f'"+str(__import__("os").system("touch {marker}"))+"'.encode()
    config = yaml.safe_load(f"note: !!binary {base64.b64encode(code).decode()}")
    (echoed,) = run_echo(echo_notebook, ["2024-01-01"], config)
    assert echoed["config"] == {"note": str(code)}  # the bytes' text, as a plain string
    assert not marker.exists()
    # The control: the same text pasted into a cell as source, which is what injecting it
    # by string formatting would do, does run the command.
    subprocess.run([sys.executable, "-c", f'note = "{code.decode()}"'], check=True)
    assert marker.exists()
