"""Assetbook's MLflow resource against a real tracking server whose runs live in Postgres and
whose artifacts live in an S3 bucket (tests/services.py starts all three on loopback)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import boto3
import psycopg2
import pytest

from assetbook.resources.tracking import CANDIDATE, CHAMPION, PREVIOUS, MlflowTracking
from tests.services import SharedServices

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
