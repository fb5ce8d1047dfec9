"""The delivery path end to end, through the `assetbook` command, a real MLflow store, real
BentoML servers and nginx on loopback. The tests share one project and run in order: a good
model is served in staging (the `deployment` asset) and promoted by hand to production, a
worse one is refused, a newer good one takes over staging under traffic and moves on to
production by the promotion rule, production rolls back alone, and a rollback of staging
returns to the first champion, each switch under traffic."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest
import yaml
from mlflow.tracking import MlflowClient

import assetbook
from assetbook.resources.importable import make_importable
from assetbook.runners.serving.deployment import Deployer, DeploymentError, Probe
from assetbook.runners.serving.health import server_errors
from tests.conftest import BIN, copy_example
from tests.ports import free_port
from tests.processes import command_line, identities, listening, processes, still_running, tree
from tests.recorded import recorded_days
from tests.specs import without_search

pytestmark = pytest.mark.slow

MONITORING = Path(assetbook.__file__).parent / "templates" / "monitoring"
# What the served model answered, read back a day at a time (today included, for the test)
SERVED_DAYS = "{type: daily, start: 2026-01-01, end_offset: 1}"
PREDICTIONS = """
  predictions:
    kind: source
    group: monitoring
    partitions: served_days
    description: The rows the served model answered, with its answers, a day a partition.
    source: {type: served}
  refused:
    kind: source
    group: monitoring
    partitions: served_days
    description: The requests the served model refused, with the reason it gave.
    source: {type: served, records: refusals}
"""
# A later environment: promoted from `deployment` (staging) by hand, or by its rule
PRODUCTION = """
  production:
    kind: deploy
    group: delivery
    description: What staging serves, once promoted.
    inputs: {deployment: same}
    port: 3031
    probe:
      path: /predict
      body:
        application: {salary: 85000.0, commission: 0.0, age: 45, elevel: 2, car: 4,
                      zipcode: 3, hvalue: 350000.0, hyears: 12, loan: 150000.0}
    promote_when: {after: 60s, max_errors: 0}
"""
RULE_AFTER_S = 60
SERVER = re.compile(r"^nginx: master process |-m bentoml serve ")  # a command line
# The promotion sensor evaluated on the project's instance, as the daemon does; with
# `launch`, its run request materialized with its tags, as the daemon would launch it.
PROMOTION_TICK = """import json, sys
from datetime import datetime, timedelta
from pathlib import Path
import dagster as dg
import assetbook.graph.promotion
from assetbook.cli.pipeline import materialize_assets
from assetbook.cli.session import Session
session = Session(Path(sys.argv[1]))
for at in [a[3:] for a in sys.argv[2:] if a.startswith("at=")]:  # the rule's clock, fixed
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromisoformat(at)
    assetbook.graph.promotion.datetime = Frozen
context = dg.build_sensor_context(instance=session.instance,
                                  repository_def=session.defs.get_repository_def())
answer = session.defs.get_sensor_def("production_promotion")(context)
if isinstance(answer, dg.RunRequest) and "launch" in sys.argv[2:]:
    materialize_assets(session, ["production"], dict(answer.tags))
print(json.dumps({"skip": getattr(answer, "skip_message", None),
                  "run_key": getattr(answer, "run_key", None),
                  "tags": dict(getattr(answer, "tags", {}) or {})}))
"""
GOOD = {"salary": 85000.0, "commission": 0.0, "age": 45, "elevel": 2, "car": 4, "zipcode": 3,
        "hvalue": 350000.0, "hyears": 12, "loan": 150000.0}


class Project:
    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.rule_run_key: str | None = None  # the promotion rule's run of v3
        self.state = root / ".assetbook"
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
                    "ASSETBOOK_STATE": str(self.state), "ASSETBOOK_SERVE_PORT": str(port)}

    def assetbook(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "assetbook"), "--project", str(self.root), *args],
                              env=self.env,
                              capture_output=True, text=True, timeout=600)

    def served_days(self, source: str) -> pd.DataFrame:
        """A `served` source materialized for every day the staging server recorded (the
        requests may span midnight), read back."""
        days = recorded_days(self.state / "serving" / "deployment" / "monitoring")
        for day in days:
            result = self.assetbook("materialize", source, "--partition", day)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "day(s) known so far:" in result.stdout and "day(s) landed" not in result.stdout
        frames = [pd.read_parquet(self.state / "artifacts" / source / f"{day}.parquet")
                  for day in days]
        for day, frame in zip(days, frames, strict=True):
            assert frame["timestamp"].str.startswith(day).all(), day  # that day's alone
        return pd.concat(frames, ignore_index=True)

    def registry(self) -> MlflowClient:
        return MlflowClient(f"sqlite:///{self.state / 'mlflow.db'}")

    def alias(self, alias: str) -> str:
        return str(self.registry().get_model_version_by_alias("loans_classifier", alias).version)

    @property
    def production_url(self) -> str:  # $ASSETBOOK_SERVE_PORT moves both ports alike
        return f"http://127.0.0.1:{self.port + 1}"

    def served_version(self, url: str | None = None) -> str:
        response = httpx.post(f"{url or self.url}/predict", json={"application": GOOD},
                              timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["model_version"]

    def promotion_tick(self, launch: bool = False, at: datetime | None = None) -> dict:
        """The promotion sensor's real function on the project's instance, as the daemon
        ticks it; `launch` materializes its run request; `at` fixes the rule's clock."""
        result = subprocess.run([str(BIN / "python"), "-c", PROMOTION_TICK, str(self.root),
                                 *(["launch"] if launch else []),
                                 *([f"at={at.isoformat()}"] if at else [])], env=self.env,
                                capture_output=True, text=True, timeout=600, cwd=self.root)
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.splitlines()[-1])

    def status(self) -> str:
        result = self.assetbook("status")
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def decisions(self) -> list[dict]:
        return [json.loads(line) for line in (self.state / "promotions.jsonl").read_text()
                .splitlines()]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = copy_example(tmp_path_factory.mktemp("delivery") / "proj")
    spec = root / "assets" / "loans.yaml"
    text = spec.read_text().replace("partitions:\n", f"partitions:\n  served_days: "
                                    f"{SERVED_DAYS}\n", 1) + PREDICTIONS + PRODUCTION
    # No search: its models are what delivery moves, and the gate still judges each of them
    spec.write_text(yaml.safe_dump(without_search(yaml.safe_load(text), batch_size=256),
                                   sort_keys=False))
    project = Project(root, free_port())
    yield project
    project.assetbook("stop")


def test_first_run_serves_the_champion(project: Project) -> None:
    result = project.assetbook("run", "--days", "5")
    assert result.returncode == 0, result.stderr[-3000:]
    assert '-> {"label": ' in result.stdout and '"probabilities": {"0": ' in result.stdout
    assert '"model_version": "1"}' in result.stdout
    assert project.alias("champion") == "1"
    assert project.served_version() == "1"
    (decision,) = project.decisions()
    assert decision["passed"] and decision["champion"] is None
    assert decision["days"] == ["2024-01-04", "2024-01-05"]  # held out by `lag: 2`
    alone = project.assetbook("rollback")  # one champion ever: nothing to go back to
    assert alone.returncode == 1 and "loans_classifier has no earlier champion to roll back " \
                                     "to: v1 was its first" in alone.stderr

    batch = httpx.post(f"{project.url}/predict_batch", json={"applications": [GOOD] * 5})
    assert batch.status_code == 200 and len(batch.json()) == 5
    assert {p["model_version"] for p in batch.json()} == {"1"}
    assert {tuple(p["probabilities"]) for p in batch.json()} == {("0", "1")}
    for path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(f"{project.url}{path}").status_code == 200
    metrics = httpx.get(f"{project.url}/metrics").text
    queried = set(re.findall(r"bentoml_\w+", "".join(
        path.read_text() for path in MONITORING.iterdir())))
    assert "bentoml_service_request_total" in queried  # the shipped rules and dashboard
    rules = yaml.safe_load((MONITORING / "prometheus-alerts.yml").read_text())["groups"][0]
    assert {r["alert"] for r in rules["rules"]} >= {"AssetbookServingErrors",
                                                    "AssetbookServingSlow"}
    assert len(json.loads((MONITORING / "grafana-dashboard.json").read_text())["panels"]) == 5
    for name in queried:  # query only what the served model exposes, as they label it
        assert re.search(rf'^{name}{{[^}}]*runner_name="(Api|Model)"', metrics, re.M), name
    report = project.state / "reports" / "evaluation_report" / "v1.html"
    html = report.read_text()
    assert "ROC" in html and "Calibration" in html and "confusion matrix" in html
    assert html.count("data:image/png;base64") >= 2


def test_the_front_and_not_the_server_closes_an_idle_connection(project: Project) -> None:
    """nginx keeps its connection to the server for the next request; a server that closed it
    first, as nginx sent a request on it, cost that request a 502 (uvicorn's default closes one
    idle for 5 s; a CI run's request 5 s after the one before failed so)."""
    assert project.served_version() == "1"
    server = json.loads((project.state / "serving" / "deployment" / "deployment.json")
                        .read_text())["active"]["port"]

    def held() -> list:
        return [c for c in psutil.net_connections("tcp") if c.raddr and c.raddr.port == server
                and c.status == psutil.CONN_ESTABLISHED]

    assert held(), "nginx keeps no connection to the server"
    time.sleep(6)
    assert held(), "the server closed nginx's idle connection"
    assert project.served_version() == "1"


def test_production_waits_for_a_promotion_by_hand_which_records_who(project: Project) -> None:
    """`assetbook run` serves the champion in staging only; `assetbook promote` moves it to
    production, naming the approver, while staging keeps answering."""
    assert "production (after deployment): nothing served" in project.status()

    result, outcomes = _under_traffic(project, lambda: project.assetbook(
        "promote", "--to", "production", "--by", "alice"))

    assert result.returncode == 0, result.stderr[-3000:]
    assert "promoted to production: serving" in result.stdout
    assert "(model v1), approved by alice" in result.stdout
    assert project.served_version(project.production_url) == "1"
    assert project.alias("production") == "1"
    status = project.status()
    assert re.search(r"^deployment: v1 .* on http://127\.0\.0\.1:\d+, since [\d-]+ [\d:]+$",
                     status, re.M), status
    assert re.search(rf"^production \(after deployment\): v1 .* on {project.production_url}, "
                     r"since [\d-]+ [\d:]+, approved by alice$", status, re.M), status
    assert project.promotion_tick()["skip"] == "production already serves v1"
    assert len(outcomes) > 5 and set(outcomes) == {200}, {o for o in outcomes if o != 200}
    again = project.assetbook("promote", "--to", "production")
    assert again.returncode == 1 and "already serves v1" in again.stderr


def batches(project: Project) -> tuple[float, float]:
    """(requests, forward passes) of the model service so far, from BentoML's adaptive
    batching histogram on /metrics: each pass observes how many requests it merged."""
    metrics = httpx.get(f"{project.url}/metrics", timeout=30).text
    total = {"sum": 0.0, "count": 0.0}
    for line in metrics.splitlines():
        for part in total:
            if line.startswith(f"bentoml_service_adaptive_batch_size_{part}{{"):
                total[part] += float(line.rsplit(" ", 1)[1])
    return total["sum"], total["count"]


def test_concurrent_requests_are_batched_and_all_succeed(project: Project) -> None:
    """Adaptive batching under load: concurrent requests share forward passes, answers slow
    down, none fails (a reset connection between the two services once made some 500)."""
    def send(_: int) -> list[int]:
        with httpx.Client(timeout=60) as client:
            return [client.post(f"{project.url}/predict", json={"application": GOOD}
                                ).status_code for _ in range(20)]

    requests_before, passes_before = batches(project)
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [s for batch in pool.map(send, range(16)) for s in batch]
    requests, passes = (a - b for a, b in zip(batches(project), (requests_before,
                                                                 passes_before), strict=True))
    assert len(statuses) == 320 and set(statuses) == {200}
    assert requests >= 320  # every answer went through the batching model service ...
    assert passes < requests  # ... and some forward passes served several requests


def test_answered_rows_land_as_a_daily_partition_with_their_answers(project: Project) -> None:
    """Each answered row is recorded by the server (BentoML's monitoring log) and read back
    by the `predictions` source: its fields, its answer, the model version, the latency, and
    one request id per request."""
    sent = [{**GOOD, "salary": 30_000.0 + i, "age": 20 + i} for i in range(6)]
    single = httpx.post(f"{project.url}/predict", json={"application": sent[0]}, timeout=30)
    batch = httpx.post(f"{project.url}/predict_batch", json={"applications": sent[1:]},
                       timeout=30)
    answers = [single.json(), *batch.json()]

    recorded = project.served_days("predictions")

    mine = recorded[recorded["salary"].isin([row["salary"] for row in sent])].sort_values(
        "salary", ignore_index=True)
    assert len(mine) == len(sent)
    assert mine[list(GOOD)].to_dict("records") == sent
    assert mine["prediction"].tolist() == [a["label"] for a in answers]
    assert mine["probability_1"].tolist() == pytest.approx(
        [a["probabilities"]["1"] for a in answers])
    assert set(mine["model_version"]) == {"1"} and (mine["latency_ms"] > 0).all()
    assert mine["request_id"].nunique() == 2  # the single request, and the batch's five rows
    assert mine["request_id"][1:].nunique() == 1


BAD_REQUESTS = [
    ("/predict", {"application": {k: v for k, v in GOOD.items() if k != "age"}}, "age"),
    ("/predict", {"application": {**GOOD, "age": "forty"}}, "age"),
    ("/predict", {"application": {**GOOD, "age": 45.5}}, "application.age: Input should be a "
                                                          "valid integer (sent 45.5)"),
    ("/predict", {"application": {**GOOD, "zipcode": 12}}, "zipcode"),
    ("/predict", {"application": {**GOOD, "elevel": 7}}, "elevel"),
    ("/predict", {"application": {**GOOD, "salary": -1.0}}, "salary"),
    ("/predict", {"application": {**GOOD, "extra": 1}}, "extra"),
    ("/predict", {}, "application"),
    ("/predict", GOOD, "Send the fields inside"),  # the row without its wrapper field
    ("/predict", {"application": {**GOOD, "label": 1}}, "the model's answer"),  # the target
    ("/predict_batch", {"applications": []}, "at least 1"),
    ("/predict_batch", {"applications": [GOOD] * 1001}, "at most 1000"),
    ("/predict_batch", {"applications": [GOOD, {**GOOD, "car": 0}]},
     "applications.1.car: Input should be greater than or equal to 1 (sent 0)"),
]


@pytest.mark.parametrize(("path", "body", "reason"), BAD_REQUESTS)
def test_bad_request_gets_400_with_the_reason(project: Project, path: str, body: dict,
                                              reason: str) -> None:
    response = httpx.post(f"{project.url}{path}", json=body, timeout=30)
    assert response.status_code == 400, response.text
    assert reason in response.text
    assert project.served_version() == "1"  # and the server goes on answering


@pytest.mark.parametrize("raw", [b'{"application": {"salary": NaN}}', b"{not json", b""])
def test_malformed_bodies_get_400(project: Project, raw: bytes) -> None:
    response = httpx.post(f"{project.url}/predict", content=raw,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert raw or response.json()["error"].startswith("the request has no body: send")
    assert project.served_version() == "1"


def test_each_refused_request_is_recorded_with_its_status_and_reason(project: Project) -> None:
    """The bad requests above, read back as a day of the `refused` source."""
    refused = project.served_days("refused")

    sent = len(BAD_REQUESTS) + 3  # and the malformed bodies
    assert len(refused) == sent, refused[["endpoint", "http_status", "reason"]].to_string()
    assert set(refused["http_status"]) == {400} and set(refused["model_version"]) == {"1"}
    assert (refused["endpoint"] == "/predict_batch").sum() == 3
    for _, body, reason in BAD_REQUESTS:
        assert refused["reason"].str.contains(reason, regex=False).any(), (body, reason)
    # and none of them is logged as a server's error, with a traceback
    serving = project.state / "serving" / "deployment"
    port = json.loads((serving / "deployment.json").read_text())["active"]["port"]
    log = (serving / "logs" / f"bento-{port}.log").read_text()
    assert "Exception on" not in log and "Traceback" not in log, log[-3000:]


def test_worse_candidate_is_refused_and_nothing_moves(project: Project) -> None:
    spec = project.root / "assets" / "loans.yaml"
    good_spec = spec.read_text()
    broken = yaml.safe_load(good_spec)
    broken["assets"]["candidate_model"]["hyperparameters"]["lr"] = 1.0e-7
    spec.write_text(yaml.safe_dump(broken, sort_keys=False))
    try:
        assert project.assetbook("simulate", "--days", "1").returncode == 0
        result = project.assetbook("run", "--days", "6")
    finally:
        spec.write_text(good_spec)
    assert result.returncode == 1  # a verdict a script should see, said as one
    assert "Dagster" not in result.stderr  # the gate's reason alone, not Dagster's error
    assert "error" not in result.stderr, result.stderr
    assert "the champion and what is served stay as they were:\nchampion: candidate v2 " \
           "refused: " in result.stderr
    assert "vs champion" in result.stderr and "(beyond the allowed 0.01)" in result.stderr
    # the run's summary, as after any run: what it made, the gate's rules, the report
    assert "materialized candidate_model, evaluation_report\n" in result.stdout
    assert "candidate v2 over champion v1: refused, the champion stays" in result.stdout
    assert "report: " in result.stdout and "POST " not in result.stdout
    refused = project.decisions()[-1]
    assert refused["candidate"] == "2" and not refused["passed"]
    assert any("roc_auc" in rule and "beyond the allowed 0.01" in rule for rule in refused["rules"])
    assert project.alias("champion") == "1" and project.alias("candidate") == "2"
    assert project.served_version() == "1"


def test_failed_readiness_leaves_the_old_bento_serving(project: Project) -> None:
    make_importable(project.root)  # as every `assetbook` command does: the bento imports it
    deployer = Deployer(project.state / "serving" / "deployment", project.port,
                        project.state / "bentoml", Probe("/predict", {"application": GOOD}),
                        ready_timeout_s=60)
    with pytest.raises(DeploymentError, match="exited while starting"):
        deployer.deploy("loan_classifier:doesnotexist", "9")
    active = deployer.active()
    with pytest.raises(DeploymentError, match=r"failed the known request .*expected model "
                                              r"version 9"):
        deployer.deploy(active.bento, "9")  # answers, but as v1: not the promised version
    assert project.served_version() == "1"
    assert deployer.active() == active


def _traffic(url: str, stop: threading.Event, outcomes: list[int | str]) -> None:
    """A request every 20 ms, each on a new connection (a client that keeps one alive
    across nginx's reload may send on it as the old worker closes it, and must retry);
    a failure is recorded as its error."""
    with httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        while not stop.is_set():
            try:
                outcomes.append(client.post(f"{url}/predict",
                                            json={"application": GOOD}).status_code)
            except httpx.HTTPError as error:
                outcomes.append(f"{type(error).__name__}: {error}")
            time.sleep(0.02)


def _under_traffic(project: Project, action, url: str | None = None
                   ) -> tuple[object, list[int | str]]:
    stop, outcomes = threading.Event(), []
    sender = threading.Thread(target=_traffic, args=(url or project.url, stop, outcomes))
    sender.start()
    try:
        result = action()
    finally:
        stop.set()
        sender.join()
    return result, outcomes


def test_new_champion_takes_over_without_failed_requests(project: Project) -> None:
    assert project.assetbook("simulate", "--days", "1").returncode == 0
    result, outcomes = _under_traffic(project, lambda: project.assetbook("run", "--days", "7"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert project.alias("champion") == "3" and project.alias("previous") == "1"
    assert project.served_version() == "3"
    assert len(outcomes) > 20 and set(outcomes) == {200}, {o for o in outcomes if o != 200}


def test_the_rule_promotes_to_production_once_staging_served_long_enough(
        project: Project) -> None:
    """v3 serves in staging; production keeps v1 until v3 has served 60 s there with no
    server error, then the promotion sensor's run switches production under traffic."""
    assert project.served_version(project.production_url) == "1"
    refused = httpx.post(f"{project.url}/predict", json={}, timeout=30)  # a client's error
    assert refused.status_code == 400 and 'http_response_code="400"' in httpx.get(
        f"{project.url}/metrics").text
    assert server_errors(project.url) == 0  # ... is no server error
    staged = datetime.fromisoformat(json.loads((
        project.state / "serving" / "deployment" / "deployment.json").read_text())[
        "active"]["started"])
    # half-way: at the rule's clock, as the time a loaded machine takes to get here varies
    waiting = project.promotion_tick(at=staged + timedelta(seconds=RULE_AFTER_S / 2))["skip"]
    assert waiting == "v3 waits: served 30s of 1m", waiting
    time.sleep(max(0.0, RULE_AFTER_S + 1 - (datetime.now(staged.tzinfo) - staged
                                            ).total_seconds()))

    tick, outcomes = _under_traffic(project, lambda: project.promotion_tick(launch=True),
                                    project.production_url)

    assert tick["tags"] == {"assetbook/approved_by": "rule: v3 served 1m with at most 0 "
                                                     "server errors in deployment"}
    assert project.served_version(project.production_url) == "3"
    assert project.alias("production") == "3" and project.served_version() == "3"
    assert "approved by rule: v3 served 1m" in project.status()
    assert len(outcomes) > 20 and set(outcomes) == {200}, {o for o in outcomes if o != 200}
    project.rule_run_key = tick["run_key"]


def test_production_rolls_back_alone_and_the_rule_does_not_undo_it(project: Project) -> None:
    result, outcomes = _under_traffic(project, lambda: project.assetbook(
        "rollback", "--env", "production", "--by", "bob"), project.production_url)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "model v1" in result.stdout
    assert project.served_version(project.production_url) == "1"
    assert project.alias("production") == "1"
    assert project.served_version() == "3" and project.alias("champion") == "3"  # staging
    assert "approved by rollback from v3 by bob" in project.status()
    assert len(outcomes) > 20 and set(outcomes) == {200}, {o for o in outcomes if o != 200}
    # The rule still holds for v3, under the same run key: the daemon launches a key once
    assert project.promotion_tick()["run_key"] == project.rule_run_key


def test_rollback_restores_the_previous_champion_under_traffic(project: Project) -> None:
    result, outcomes = _under_traffic(project, lambda: project.assetbook("rollback"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model v1" in result.stdout
    assert project.alias("champion") == "1" and project.alias("previous") == "3"
    assert project.served_version() == "1"
    assert len(outcomes) > 20 and set(outcomes) == {200}, {o for o in outcomes if o != 200}
    assert project.decisions()[-1]["rules"] == ["rollback from v3 to v1"]
    assert project.served_version(project.production_url) == "1"  # production: as it was
    again = project.assetbook("rollback")  # further back, never forward to v3 again
    assert again.returncode == 1 and "v1 was its first" in again.stderr
    assert project.alias("champion") == "1" and project.served_version() == "1"


def test_stop_leaves_nothing_and_serve_listens_on_the_loopback_only(project: Project) -> None:
    """`assetbook stop` ends nginx and every bento server; `assetbook serve` brings the
    recorded deployment back, listening on 127.0.0.1 only (seen from outside: the sockets
    its processes hold open)."""
    def servers() -> set[int]:
        pids = set()
        for environment in ("deployment", "production"):
            serving = project.state / "serving" / environment
            pids |= {e["pid"] for e in json.loads((serving / "deployment.json").read_text())[
                "history"]}
            nginx = serving / "nginx" / "nginx.pid"
            pids |= {int(nginx.read_text())} if nginx.exists() else set()
        # a server of the history ended long ago, and its pid may be another process's now
        return tree({pid for pid in pids if SERVER.search(command_line(pid))}, processes())

    running = servers()
    assert running and ("127.0.0.1", project.port) in listening(running)
    known = identities(running)
    stopped = project.assetbook("stop")
    assert stopped.returncode == 0
    assert re.search(r"^stopped deployment: [1-9]\d* bento servers? and nginx in front$",
                     stopped.stdout, re.M), stopped.stdout
    left = {pid: command_line(pid) for pid in tree(still_running(known), processes())}
    assert not left, f"servers outlived `assetbook stop`: {left}"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{project.url}/healthz", timeout=5)

    served = project.assetbook("serve")
    assert served.returncode == 0, served.stderr[-3000:]
    sockets = listening(servers())
    assert ("127.0.0.1", project.port) in sockets and len(sockets) >= 4  # nginx and bento
    assert ("127.0.0.1", project.port + 1) in sockets  # both environments
    assert {address for address, _ in sockets} == {"127.0.0.1"}, sockets
    assert project.served_version() == "1"
    assert project.served_version(project.production_url) == "1"
