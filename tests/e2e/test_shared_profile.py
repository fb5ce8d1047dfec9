"""The default pipeline under a shared profile: artifacts, executed notebooks, reports and landed
files in an S3 bucket (moto's server), the Dagster instance on Postgres, MLflow on a tracking
server backed by both, and the search and training on a Ray cluster of two nodes; then the same
project switched back to the embedded profile, with nothing started. A run killed while it
uploads a large artifact leaves no object at its key, and its rerun completes. Assetbook's
MLflow resource round-trips runs, aliases and files through the server.

Every server is real and on 127.0.0.1, started here (tests/services.py, tests/ray_cluster.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import psycopg2
import pytest
import yaml
from mlflow.tracking import MlflowClient

from assetbook.resources.tracking import CANDIDATE, CHAMPION, PREVIOUS, MlflowTracking
from tests.conftest import BIN, copy_example
from tests.ports import free_port
from tests.ray_cluster import two_node_cluster
from tests.services import SharedServices
from tests.specs import speed_up

pytestmark = pytest.mark.slow
PROFILE = "shared"
STORED = ("raw_applications", "validated_applications", "features", "drift_report",
          "hyperparameters", "candidate_model", "evaluation_report", "champion", "bento")
NOTEBOOK_REPORTS = ("features", "evaluation_report")
TRIAL_ACTOR, TRAINING_WORKER = "ImplicitFunc", "RayTrainWorker"  # Ray's actor classes


@dataclass(frozen=True)
class Shared:
    project: Path
    services: SharedServices
    ray: str
    prefix: str  # the project's folder in the bucket
    run: subprocess.CompletedProcess

    def objects(self, under: str = "") -> dict[str, int]:
        """Key (below the project's prefix) -> size."""
        s3 = boto3.client("s3", endpoint_url=self.services.s3_endpoint)
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.services.bucket, Prefix=f"{self.prefix}/{under}")
        return {item["Key"].removeprefix(f"{self.prefix}/"): item["Size"]
                for page in pages for item in page.get("Contents", [])}


def assetbook(project: Path, *args: str, timeout: float = 900,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "assetbook"), "--project", str(project), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env=env or dict(os.environ))


def write_profile(project: Path, services: SharedServices, ray: str, prefix: str) -> None:
    """The profile as a user writes it: the services' addresses, variables from the
    environment for what a shell would hold."""
    (project / "profiles.yaml").write_text(yaml.safe_dump({PROFILE: {
        "store": f"s3://{services.bucket}/{prefix}",
        "postgres": services.postgres_dsn_dagster,
        "mlflow": services.mlflow_uri,
        "ray": ray,
        "executor": "multiprocess",
        "environment": dict(services.environment),
    }}))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory,
           shared_services: SharedServices) -> Iterator[Shared]:
    root = copy_example(tmp_path_factory.mktemp("shared") / "loans")
    speed_up(root, search=True, concurrent_trials=True)  # on both nodes
    spec = root / "assets" / "loans.yaml"
    spec.write_text(spec.read_text().replace("devices: 1           # >1 trains with DDP",
                                             "devices: 2"))
    prefix = "loans"
    env = {**os.environ, "ASSETBOOK_SERVE_PORT": str(free_port())}
    env.pop("RAY_ADDRESS", None)  # the profile names the cluster
    with two_node_cluster() as ray:
        write_profile(root, shared_services, ray, prefix)
        run = assetbook(root, "--profile", PROFILE, "run", "--days", "4", env=env)
        try:
            assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
            yield Shared(root, shared_services, ray, prefix, run)
        finally:
            assetbook(root, "--profile", PROFILE, "stop", env=env)


def test_the_bucket_holds_every_artifact_notebook_and_report(shared: Shared) -> None:
    objects = shared.objects()
    for asset in STORED:
        assert any(key.startswith(f"artifacts/{asset}/") for key in objects), asset
    assert {f"artifacts/features/2024-01-0{day}.parquet" for day in range(1, 5)} <= set(objects)
    assert {f"landing/raw_applications/2024-01-0{day}.parquet"
            for day in range(1, 5)} <= set(objects)
    for asset in NOTEBOOK_REPORTS:
        kept = [key for key in objects if key.startswith(f"reports/{asset}/")]
        assert {Path(key).suffix for key in kept} == {".ipynb", ".html"}, kept
    assert all(size > 0 for size in objects.values())


def test_the_local_state_folder_holds_none_of_them(shared: Shared) -> None:
    state = shared.project / ".assetbook"
    local = {p.relative_to(state).as_posix() for p in state.rglob("*") if p.is_file()}
    for folder in ("artifacts/", "reports/", "landing/", "staging/", "mlartifacts/"):
        assert not [p for p in local if p.startswith(folder)], folder
    # BentoML's store, and each running server's own BentoML home (its metrics files)
    runtime = re.compile(r"^(bentoml/|serving/\w+/homes/)")
    assert not [p for p in local if p.endswith((".parquet", ".ipynb", ".html", ".db"))
                and not runtime.match(p)], local
    assert "mlflow.db" not in local


def test_postgres_holds_the_runs_and_their_events(shared: Shared) -> None:
    with psycopg2.connect(shared.services.postgres_dsn_dagster) as db, db.cursor() as cursor:
        cursor.execute("select status, count(*) from runs group by status")
        runs = dict(cursor.fetchall())
        cursor.execute("select count(*) from event_logs where asset_key is not null")
        (asset_events,) = cursor.fetchone()
        # each epoch's line, from rank 0 on whichever node, through Ray to the step's log
        cursor.execute("select count(*) from event_logs where event like '%epoch _ of 2, %'")
        (epoch_lines,) = cursor.fetchone()
    assert runs.get("SUCCESS", 0) >= 2 and set(runs) == {"SUCCESS"}, runs
    assert asset_events >= len(STORED)
    assert epoch_lines == 2


def test_mlflow_on_the_server_registered_and_promoted_the_model(shared: Shared) -> None:
    client = MlflowClient(tracking_uri=shared.services.mlflow_uri)
    champion = client.get_model_version_by_alias("loans_classifier", "champion")
    assert champion.source.startswith(("mlflow-artifacts:", "s3://"))
    mlflow_objects = boto3.client("s3", endpoint_url=shared.services.s3_endpoint).list_objects_v2(
        Bucket=shared.services.bucket, Prefix="mlflow/")
    assert any(item["Key"].endswith("model.pt") for item in mlflow_objects["Contents"])


def actor_nodes(address: str) -> tuple[dict[str, set[str]], set[str]]:
    """Actor class -> the nodes its actors ran on, and the cluster's nodes, from the GCS's
    actor table (`ray.util.state` would ask the dashboard, which ray[tune] does not install)."""
    import ray
    from ray._private import state

    ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        placed: dict[str, set[str]] = {}
        for actor in state.actors().values():
            # by its name: the table gives a nested class's qualified name in some runs
            # (`wrap_function.<locals>.ImplicitFunc`, seen in CI) and its name in others
            name = actor["ActorClassName"].rpartition(".")[2]
            placed.setdefault(name, set()).add(actor["Address"]["NodeID"])
        return placed, {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    finally:
        ray.shutdown()


def test_the_search_and_a_two_worker_training_ran_on_both_ray_nodes(shared: Shared) -> None:
    placed, nodes = actor_nodes(shared.ray)
    assert len(nodes) == 2
    assert placed.get(TRIAL_ACTOR) == nodes, f"the search's trials ran on {placed}"
    assert placed.get(TRAINING_WORKER) == nodes, f"the training workers ran on {placed}"


def test_the_served_model_answers(shared: Shared) -> None:
    assert '"model_version"' in shared.run.stdout or "model_version" in shared.run.stdout, \
        shared.run.stdout[-2000:]


def test_the_same_project_runs_again_on_the_embedded_profile(shared: Shared) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "MLFLOW_", "ASSETBOOK_PROFILE", "RAY_ADDRESS"))}
    started = time.monotonic()
    run = assetbook(shared.project, "--profile", "embedded", "run", "--days", "4",
                    "--no-serve", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    state = shared.project / ".assetbook"
    assert sorted(p.name for p in (state / "artifacts" / "features").glob("*.parquet")) == [
        f"2024-01-0{day}.parquet" for day in range(1, 5)]
    assert (state / "mlflow.db").is_file()
    assert time.monotonic() - started < 600


# -- a write killed midway ---------------------------------------------------------------------

BLOBS_SPEC = """pipeline: blobs
partitions:
  days: {type: dynamic}
assets:
  blobs:
    kind: source
    partitions: days
    source: {type: landing, folder: landed, formats: [parquet]}
"""


def blobs_project(root: Path, services: SharedServices) -> Path:
    """A project of the user's own: a landed day of about 128 MB of incompressible numbers,
    which its source asset stores in the bucket as a multipart upload."""
    (root / "assets").mkdir(parents=True)
    (root / "assets" / "blobs.yaml").write_text(BLOBS_SPEC)
    (root / "landed").mkdir()
    numbers = np.random.default_rng(7).random((2_000_000, 8))
    pd.DataFrame(numbers, columns=[f"x{i}" for i in range(8)]).to_parquet(
        root / "landed" / "2024-05-02.parquet", index=False)
    (root / "blobs_project").mkdir()
    (root / "blobs_project" / "__init__.py").write_text("")
    (root / "blobs_project" / "definitions.py").write_text(
        "from pathlib import Path\nfrom assetbook.graph import definitions_for\n"
        "defs = definitions_for(Path(__file__).resolve().parent.parent)\n")
    (root / "workspace.yaml").write_text(
        "load_from:\n  - python_module: {module_name: blobs_project.definitions, "
        "working_directory: .}\n")
    (root / "profiles.yaml").write_text(yaml.safe_dump({"store": {
        "store": f"s3://{services.bucket}/blobs", "environment": dict(services.environment)}}))
    return root


def test_a_run_killed_while_it_uploads_leaves_no_object_and_its_rerun_completes(
        tmp_path: Path, shared_services: SharedServices) -> None:
    root = blobs_project(tmp_path / "blobs", shared_services)
    s3 = boto3.client("s3", endpoint_url=shared_services.s3_endpoint)
    bucket, key = shared_services.bucket, "blobs/artifacts/blobs/2024-05-02.parquet"
    kept = "blobs/artifacts/.versions/blobs/2024-05-02/"  # the version, put before the latest
    command = [str(BIN / "assetbook"), "--project", str(root), "--profile", "store",
               "materialize", "blobs", "--partition", "2024-05-02"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 300
    uploads: list = []
    while not uploads and process.poll() is None and time.monotonic() < deadline:
        uploads = [u for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
                   if u["Key"].startswith(kept)]
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert uploads, f"the run ended (code {process.returncode}) before its upload was seen"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="blobs/artifacts/").get("KeyCount") == 0

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    stored = s3.head_object(Bucket=bucket, Key=key)
    assert stored["ContentLength"] > 60_000_000
    versions = s3.list_objects_v2(Bucket=bucket, Prefix=kept)["Contents"]
    assert [v["Size"] for v in versions] == [stored["ContentLength"]]


# -- Assetbook's MLflow resource on the server -------------------------------------------------

# "": experiments get the server's own artifact location (`mlflow-artifacts:/<id>`, proxied to
# its --artifacts-destination). "mlflow-artifacts:/" would name `mlflow-artifacts://<name>`, a
# host, which the server refuses (INVALID_PARAMETER_VALUE).
SERVER_ARTIFACTS = ""


@pytest.mark.timeout(300)
def test_registry_round_trip_through_server_postgres_and_bucket(
        shared_services: SharedServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = shared_services
    # A failing call fails now: MLflow's client retries a server error for about four minutes.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    tracking = MlflowTracking(tracking_uri=services.mlflow_uri, artifact_root=SERVER_ARTIFACTS)
    suffix = uuid.uuid4().hex[:8]  # the services outlive this test: names of its own
    experiment, registered = f"loans-{suffix}", f"loans-classifier-{suffix}"
    weights = tmp_path / "weights.pt"
    payload = os.urandom(64 * 1024)
    weights.write_bytes(payload)

    with tracking.run(experiment, "classifier fit", {"assetbook/asset": "classifier"}) as run_id:
        tracking.log(run_id, params={"lr": 0.01}, metrics={"roc_auc": 0.91})
        source = tracking.log_file(run_id, weights, "model", "model.pt")
        first = tracking.register(registered, run_id, source, CANDIDATE, {"window": "a"})
        second = tracking.register(registered, run_id, source, CANDIDATE, {"window": "b"})

    assert source.startswith("mlflow-artifacts:/") and source.endswith(f"{run_id}/artifacts/model")
    assert tracking.alias_version(registered, CANDIDATE) == second
    assert tracking.promote(registered, first) is None
    assert tracking.promote(registered, second) == first
    assert (tracking.alias_version(registered, CHAMPION),
            tracking.alias_version(registered, PREVIOUS)) == (second, first)
    assert tracking.alias_version(registered, "nonexistent") is None
    assert tracking.download(registered, second, tmp_path / "out").read_bytes() == payload

    # The bytes went through the server's proxy into the bucket, under its destination.
    s3 = boto3.client("s3", endpoint_url=services.s3_endpoint)
    listed = s3.list_objects_v2(Bucket=services.bucket, Prefix="mlflow/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    found = [k for k in keys if k.endswith(f"/{run_id}/artifacts/model/model.pt")]
    assert len(found) == 1, f"the run's model.pt is not under mlflow/: {keys}"
    assert s3.get_object(Bucket=services.bucket, Key=found[0])["Body"].read() == payload

    # And the run, its parameter and the registry's aliases are rows of MLflow's database.
    with psycopg2.connect(services.postgres_dsn_mlflow) as connection, \
            connection.cursor() as cursor:
        cursor.execute("SELECT name, status FROM runs WHERE run_uuid = %s", (run_id,))
        assert cursor.fetchall() == [("classifier fit", "FINISHED")]
        cursor.execute("SELECT value FROM params WHERE run_uuid = %s AND key = 'lr'", (run_id,))
        assert cursor.fetchall() == [("0.01",)]
        cursor.execute("SELECT alias, version FROM registered_model_aliases WHERE name = %s "
                       "ORDER BY alias", (registered,))
        assert cursor.fetchall() == [(CANDIDATE, int(second)), (CHAMPION, int(second)),
                                     (PREVIOUS, int(first))]
