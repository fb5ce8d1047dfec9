"""A bento is self-contained: built for a project that is not the loans example (sklearn's wine
data, three classes), `bentoml export`ed to a file, then installed into a fresh virtual
environment from nothing but the bento's own requirements and wheels (its install.sh),
`bentoml import`ed into a fresh BentoML home and served by that environment on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from assetbook.runners.serving.deployment import free_port
from assetbook.runners.serving.packaging import BentoSource, package
from assetbook.serving.config import ServiceSettings
from assetbook.serving.model_file import Predictor
from tests.conftest import BIN
from tests.serving.wine import wine_frame, write_project

pytestmark = pytest.mark.slow

SETTINGS = ServiceSettings(schema="project.schemas:WineSamples", exclude=("target",),
                           transform="project.features:hue_kept", options={}, record="row",
                           batch="rows")
READY_S = 180


@dataclass(frozen=True)
class Exported:
    archive: Path  # the file `bentoml export` wrote
    bento: str
    model_file: Path
    home: Path  # the BentoML home it was built in


@dataclass(frozen=True)
class CleanEnvironment:
    venv: Path
    env: dict[str, str]  # a bare environment: the venv, its own BentoML home, pip's settings

    def run(self, *command: str, cwd: Path) -> subprocess.CompletedProcess:
        result = subprocess.run(command, env=self.env, cwd=cwd, capture_output=True, text=True,
                                check=False, timeout=900)
        assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n" \
                                       f"{result.stderr[-3000:]}"
        return result


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    root = tmp_path_factory.mktemp("wine")
    model_file = write_project(root)
    source = BentoSource(root, ("project",), SETTINGS)
    packaged = package(model_file, source, "wine_classifier", {"model_version": "1"},
                       root / "bentoml")
    archive = root / "wine.bento"
    subprocess.run([str(BIN / "bentoml"), "export", packaged.bento, str(archive)],
                   env={**os.environ, "BENTOML_HOME": str(root / "bentoml"),
                        "BENTOML_DO_NOT_TRACK": "true"}, capture_output=True, check=True)
    return Exported(archive, packaged.bento, model_file, root / "bentoml")


@pytest.fixture(scope="module")
def clean(exported: Exported, tmp_path_factory: pytest.TempPathFactory) -> CleanEnvironment:
    """A venv that holds only what the bento's own install.sh installs, and the bento
    imported into a BentoML home of its own by that venv's bentoml."""
    folder = tmp_path_factory.mktemp("clean")
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {"HOME": os.environ["HOME"], "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
           "VIRTUAL_ENV": str(venv), "BENTOML_HOME": str(folder / "bentoml"),
           "BENTOML_DO_NOT_TRACK": "true",
           **{k: v for k, v in os.environ.items() if k.startswith("PIP_")}}
    environment = CleanEnvironment(venv, env)
    with tarfile.open(exported.archive) as bento:
        bento.extractall(folder / "unpacked", filter="data")
    environment.run("bash", str(folder / "unpacked" / "env" / "python" / "install.sh"),
                    cwd=folder)
    environment.run(str(venv / "bin" / "bentoml"), "import", str(exported.archive), cwd=folder)
    return environment


@pytest.fixture(scope="module")
def url(clean: CleanEnvironment, exported: Exported) -> Iterator[str]:
    with served(clean.venv / "bin" / "bentoml", exported.bento, clean.env,
                clean.venv.parent) as address:
        yield address


@contextmanager
def served(bentoml: Path, bento: str, env: dict[str, str], folder: Path) -> Iterator[str]:
    """`bentoml serve` of `bento` on a free port of 127.0.0.1, until the block ends."""
    port = free_port()
    log = folder / f"serve-{port}.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(bentoml), "serve", bento, "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", server, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """The server and its workers: the process group it leads."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_ready(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the bento exited while starting:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the bento was not ready after {READY_S}s:\n{log.read_text()[-4000:]}")


def rows() -> pd.DataFrame:
    return wine_frame().drop(columns="target").iloc[[0, 60, 130]]


def test_the_clean_environment_holds_only_the_bentos_requirements(
        clean: CleanEnvironment) -> None:
    listed = clean.run(str(clean.venv / "bin" / "pip"), "list", "--format", "json",
                       cwd=clean.venv.parent)
    installed = {package["name"].lower() for package in json.loads(listed.stdout)}
    assert {"assetbook-serving", "project", "bentoml", "torch"} <= installed
    assert not installed & {"assetbook", "dagster", "ray", "mlflow", "scikit-learn"}


def test_real_rows_get_a_probability_per_class(url: str, exported: Exported) -> None:
    frame = rows()
    expected = Predictor.load(exported.model_file).predict(frame)
    single = httpx.post(f"{url}/predict", json={"row": frame.iloc[1].to_dict()}, timeout=30)
    assert single.status_code == 200, single.text
    batch = httpx.post(f"{url}/predict_batch",
                       json={"rows": frame.to_dict(orient="records")}, timeout=30)
    assert batch.status_code == 200, batch.text
    # a row alone and in a batch of 178: the same answer, to float32 rounding of the batched
    # matrix product
    alone, batched = single.json(), batch.json()[1]
    assert {**batched, "probabilities": None} == {**alone, "probabilities": None}
    assert batched["probabilities"] == pytest.approx(alone["probabilities"], abs=1e-6)
    for answer, probabilities in zip(batch.json(), expected, strict=True):
        assert set(answer) == {"label", "probabilities", "model_version"}
        assert answer["model_version"] == "1"
        assert list(answer["probabilities"]) == ["0", "1", "2"]
        served = np.array(list(answer["probabilities"].values()))
        np.testing.assert_allclose(served, probabilities, atol=1e-6)  # what training predicts
        assert answer["label"] == int(served.argmax())


def test_a_bad_row_gets_a_400_naming_the_field(url: str) -> None:
    row = rows().iloc[0].to_dict()
    for body, field in (({"row": {**row, "alcohol": "strong"}}, "alcohol"),
                        ({"row": {**row, "grape": 1.0}}, "grape"),
                        ({"row": {k: v for k, v in row.items() if k != "hue"}}, "hue"),
                        ({"rows": [row]}, "rows")):
        response = httpx.post(f"{url}/predict", json=body, timeout=30)
        assert response.status_code == 400, response.text
        assert field in response.text
    form = httpx.post(f"{url}/predict", content=b"row=1", timeout=30,
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415, form.text


def test_a_row_whose_transform_gives_no_number_gets_a_422_naming_it(url: str) -> None:
    """A hue of 0 is valid (the schema's ge=0), but the transform makes it NaN: no made-up
    answer, alone or in a batch, but a 422 naming the row and the feature."""
    good, zero = rows().iloc[0].to_dict(), {**rows().iloc[1].to_dict(), "hue": 0.0}
    for endpoint, body, where in (("predict", {"row": zero}, "row"),
                                  ("predict_batch", {"rows": [good, zero]}, "rows[1]")):
        response = httpx.post(f"{url}/{endpoint}", json=body, timeout=30)
        assert response.status_code == 422, response.text
        assert response.json() == {"error": f"cannot be scored: {where}: feature hue is nan "
                                            "(the model takes finite numbers only)"}


def test_a_bento_built_before_its_model_config_existed_still_serves(exported: Exported) -> None:
    """The API reads `model.json` beside the weights; a bento built before Assetbook wrote it
    (one kept for a rollback, say) reads the weights file instead."""
    configs = list(exported.home.glob("models/*/*/model.json"))
    assert configs  # written by the packaging
    for config in configs:
        config.unlink()
    env = {**os.environ, "BENTOML_HOME": str(exported.home), "BENTOML_DO_NOT_TRACK": "true",
           "PYTHONPATH": str(exported.home.parent)}  # the wine project, as the deployer has it
    frame = rows()
    with served(BIN / "bentoml", exported.bento, env, exported.home) as address:
        answer = httpx.post(f"{address}/predict", json={"row": frame.iloc[1].to_dict()},
                            timeout=30)
    assert answer.status_code == 200, answer.text
    expected = Predictor.load(exported.model_file).predict(frame)[1]
    np.testing.assert_allclose(list(answer.json()["probabilities"].values()), expected,
                               atol=1e-6)
