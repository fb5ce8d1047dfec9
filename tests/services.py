"""Real shared services on loopback, as a team runs them beyond one machine: Debian's
PostgreSQL, an S3 API (moto's server) and an MLflow tracking server that keeps its runs in that
Postgres and its artifacts in that bucket. Plain context managers, and the session fixture
`shared_services` that starts all three once per test process (per xdist worker).

Which variable points which S3 client at the store, with no code change (checked here with
botocore 1.43, aiobotocore 3.10, s3fs 2026.9, pandas 2.3, pyarrow 25, MLflow 3.17):

- `AWS_ENDPOINT_URL` (every AWS service) and `AWS_ENDPOINT_URL_S3` (S3 only) both work for:
  boto3 and botocore clients made without `endpoint_url`, s3fs (through aiobotocore),
  `upath.UPath("s3://...")`, pandas `read_parquet`/`to_parquet("s3://...")` (pandas hands an
  `s3://` string to pyarrow's `FileSystem.from_uri`, or to s3fs when given storage_options),
  pyarrow's `FileSystem.from_uri("s3://...")` and `pq.read_table("s3://...")`. MLflow's S3
  artifact store (boto3 underneath) works with `AWS_ENDPOINT_URL` alone (the S3-only variant
  was not tried there).
- Not pyarrow's `pyarrow.fs.S3FileSystem()` built directly: it ignores both variables and goes
  to AWS (pass `endpoint_override=`).
- `MLFLOW_S3_ENDPOINT_URL` is read by MLflow's S3 artifact store only; every other client above
  ignores it and dials `bkt.s3.amazonaws.com` (a 7-15 s failure on a machine without DNS).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.ports import free_port

BIN = Path(sys.executable).parent
USER = "assetbook"
BUCKET = "assetbook"
# Any values: moto checks no signature. us-east-1: the region whose buckets take no location
# constraint (moto refuses one naming us-east-1).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


# --- Postgres ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Postgres:
    """A running server: trust authentication for `user` on 127.0.0.1:`port`."""

    port: int
    user: str = USER

    def dsn(self, database: str = "postgres") -> str:
        """libpq's form, for psycopg2.connect and psql."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def sqlalchemy_url(self, database: str = "postgres") -> str:
        """SQLAlchemy's form, naming the driver: SQLAlchemy 2.1 reads a bare `postgresql://`
        as psycopg 3, which is not installed (MLflow's server and dagster-postgres's storages
        then fail with "No module named 'psycopg'")."""
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its DSN."""
        import psycopg2
        from psycopg2 import sql

        connection = psycopg2.connect(self.dsn())
        try:
            connection.autocommit = True  # CREATE DATABASE refuses to run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            connection.close()
        return self.dsn(name)


def postgres_bin() -> Path:
    """The folder of `initdb` and `pg_ctl`: PATH's (links resolved, so that `pg_ctl` finds
    its `postgres`), else Debian's newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                     key=lambda p: int(Path(p).parent.parent.name))
    if not folders:
        raise RuntimeError("PostgreSQL is not installed: `make postgres` (or apt-get install "
                           "postgresql) installs it")
    return Path(folders[-1]).parent


@contextlib.contextmanager
def postgres_server(user: str = USER, port: int | None = None) -> Iterator[Postgres]:
    """A fresh cluster in a temporary folder, listening on 127.0.0.1 only (on `port`, a free
    one by default; its socket in the folder), stopped and removed after. `initdb` refuses
    root: as root, the cluster belongs to Debian's `postgres` system user and every command
    runs through `runuser`."""
    bindir = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))  # short: the socket path is limited
    data, log = root / "data", root / "server.log"
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres").pw_uid
        except KeyError:
            shutil.rmtree(root)
            raise RuntimeError("running as root needs Debian's `postgres` system user "
                               "(apt-get install postgresql creates it)") from None
        os.chown(root, owner, -1)
        prefix = ["runuser", "-u", "postgres", "--"]

    def pg(*args: str, timeout: float = 120) -> None:
        done = subprocess.run([*prefix, *args], cwd=root, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode:
            server_log = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:1])} failed ({done.returncode}):\n"
                               f"{done.stdout[-2000:]}{done.stderr[-2000:]}{server_log}")

    port = port or free_port()
    # Durability off: a test's cluster is thrown away, and fsync is most of its start-up.
    options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off")
    started = False
    try:
        pg(str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8",
           "--locale=C", "--no-sync")
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
           "-t", "60", "start")
        started = True
        yield Postgres(port, user)
    finally:
        try:
            if started:
                pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)


# --- S3 (moto) --------------------------------------------------------------------------------

@contextlib.contextmanager
def aws_credentials() -> Iterator[dict[str, str]]:
    """CREDENTIALS in os.environ where a variable is missing (restored after); yields those in
    effect."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            if not os.environ.get(name):
                patch.setenv(name, value)
        yield {name: os.environ[name] for name in CREDENTIALS}


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 API in a thread of this process on 127.0.0.1; yields its endpoint URL.

    Its buckets live in moto's process-wide state: a test of the same process that enters
    `moto.mock_aws()` resets them."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    with aws_credentials():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


def make_bucket(endpoint: str, name: str) -> None:
    """With boto3: s3fs's mkdir sends a location constraint that moto refuses for us-east-1."""
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)


# --- MLflow -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class MlflowProcess:
    """A started `mlflow server`, maybe not answering yet."""

    url: str
    process: subprocess.Popen
    log: Path

    def wait(self, timeout: float = 120) -> str:
        """Its URL, once /health answers; its log in the error if it exits or stays silent."""
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({self.process.returncode}):\n"
                                   + self.log.read_text(errors="replace")[-6000:])
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not answer in {timeout:.0f} s:\n"
                                   + self.log.read_text(errors="replace")[-6000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self.url
            time.sleep(0.2)


@contextlib.contextmanager
def mlflow_process(backend_uri: str, artifacts_destination: str, env: Mapping[str, str],
                   folder: Path) -> Iterator[MlflowProcess]:
    """`mlflow server` started on a free loopback port (not waited for): runs and registry in
    `backend_uri` (SQLAlchemy's form), artifacts proxied (`--serve-artifacts`, MLflow's
    default) to `artifacts_destination`; `env` is added to this process's environment (its
    store's endpoint and credentials); its log is `folder`/mlflow.log. Its whole process group
    is stopped after. The server retries its database for about 100 s: the database may
    still be starting."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "mlflow.log"
    command = [str(BIN / "mlflow"), "server", "--backend-store-uri", backend_uri,
               "--artifacts-destination", artifacts_destination, "--serve-artifacts",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    # No job runner (GenAI scorers, trace roll-ups): a second process importing MLflow costs
    # 4-8 s of start-up on 2 cores, and it leaves an empty folder in /dev/shm.
    environment = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
                   "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **env}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=folder, env=environment, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        yield MlflowProcess(f"http://127.0.0.1:{port}", process, log_path)
    finally:
        stop_group(process)


@contextlib.contextmanager
def mlflow_server(backend_uri: str, artifacts_destination: str, env: Mapping[str, str],
                  folder: Path | None = None, timeout: float = 120) -> Iterator[str]:
    """`mlflow_process`, waited for: yields its URL once /health answers (its log, in a
    temporary folder by default, is in the error if it does not)."""
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlflow")))
        server = stack.enter_context(mlflow_process(backend_uri, artifacts_destination, env,
                                                    folder))
        yield server.wait(timeout)


def stop_group(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM to the process's group (a session leader's), SIGKILL after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # Workers that outlived their parent (still in its group) go too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


# --- The session's services -------------------------------------------------------------------

@dataclass(frozen=True)
class SharedServices:
    """What a test needs to point Assetbook (or any client) at the services."""

    postgres_dsn_dagster: str  # an empty database for Dagster's storage, libpq's form
    postgres_url_dagster: str  # the same for SQLAlchemy (dagster-postgres's `postgres_url`)
    postgres_dsn_mlflow: str  # MLflow's runs and registry (the server's backend store)
    mlflow_uri: str  # the tracking server, artifacts proxied to s3://{bucket}/mlflow
    s3_endpoint: str
    bucket: str
    # The variables a client process needs: credentials, region, the S3 endpoint for boto3,
    # s3fs, pandas and pyarrow (AWS_ENDPOINT_URL) and for MLflow's S3 store, and the server.
    environment: Mapping[str, str] = field(default_factory=dict)
    # Seconds from the start until each was up (they overlap: "mlflow" is the total).
    startup_seconds: Mapping[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def shared_services_running(folder: Path) -> Iterator[SharedServices]:
    """Postgres (databases `mlflow`, `dagster`), moto with the bucket, MLflow on both. MLflow
    starts first: Postgres starts while it imports (most of its start-up), and it waits for
    its database."""
    started = time.perf_counter()
    times: dict[str, float] = {}

    def lap(name: str) -> None:
        times[name] = round(time.perf_counter() - started, 2)

    with contextlib.ExitStack() as stack:
        endpoint = stack.enter_context(s3_server())
        make_bucket(endpoint, BUCKET)
        lap("s3")
        store = {**{name: os.environ[name] for name in CREDENTIALS},
                 "AWS_ENDPOINT_URL": endpoint, "MLFLOW_S3_ENDPOINT_URL": endpoint}
        port = free_port()
        mlflow = stack.enter_context(mlflow_process(
            Postgres(port).sqlalchemy_url("mlflow"), f"s3://{BUCKET}/mlflow", store, folder))
        postgres = stack.enter_context(postgres_server(port=port))
        mlflow_dsn = postgres.create_database("mlflow")
        dagster_dsn = postgres.create_database("dagster")
        lap("postgres")
        mlflow_uri = mlflow.wait()
        lap("mlflow")
        yield SharedServices(
            postgres_dsn_dagster=dagster_dsn,
            postgres_url_dagster=postgres.sqlalchemy_url("dagster"),
            postgres_dsn_mlflow=mlflow_dsn,
            mlflow_uri=mlflow_uri, s3_endpoint=endpoint, bucket=BUCKET,
            environment={**store, "MLFLOW_TRACKING_URI": mlflow_uri},
            startup_seconds=times)


@pytest.fixture(scope="session")
def shared_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServices]:
    """The shared services, once per test process (each xdist worker has its own)."""
    with shared_services_running(tmp_path_factory.mktemp("shared_services")) as services:
        yield services
