"""Serving: throughput and p50/p99 latency at 1, 8 and 64 concurrent clients, from a separate
load process, for the BentoML single-row endpoint (adaptively batched on the server), the
batch endpoint (32 rows a request) and a plain per-request PyTorch endpoint on the same
model; the same bento with prediction logging on (every answered row recorded, the default)
and off (`log_predictions: 0`), side by side; and the cold start of the bento, from process
start to the first good answer."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

from assetbook.runners.serving.deployment import free_port
from assetbook.runners.serving.packaging import BentoSource, package
from assetbook.runners.training.fit import TrainingJob, fit
from assetbook.serving.recording import MONITORING_ENV
from assetbook.spec.loader import load_project
from assetbook.spec.models import TrainerSpec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the loans example project
from project.stream import LoanStream  # noqa: E402

HERE = Path(__file__).resolve().parent
APPLICATION = {"salary": 85000.0, "commission": 0.0, "age": 45, "elevel": 2, "car": 4,
               "zipcode": 3, "hvalue": 350000.0, "hyears": 12, "loan": 150000.0}


def start(command: list[str], env: dict, url: str, body: dict) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    while True:
        try:
            if httpx.post(url, json=body, timeout=5).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited")
        time.sleep(0.1)


def load(url: str, body: dict, concurrency: int, seconds: float) -> dict:
    out = subprocess.run([sys.executable, str(HERE / "load.py"), url, json.dumps(body),
                          str(concurrency), str(seconds)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def trained_bento(tmp: Path) -> tuple[str, str, Path, dict[str, str]]:
    """A model fitted on one generated day, packaged with the loans example's service under
    `tmp`, once recording its predictions and once not: the two bento tags, the model file
    and the environment that finds the bentos (and where the predictions go)."""
    data, model = tmp / "day.parquet", tmp / "model.pt"
    LoanStream(rows_per_partition=5000).generate("2024-01-01").to_parquet(data)
    fit(TrainingJob("project.models:LoanClassifier", "label", (str(data),),
                    TrainerSpec(max_epochs=2), {}, str(model)))
    home = tmp / "bentoml"
    source = BentoSource.of(load_project(HERE.parent), "bento")
    unlogged = replace(source, settings=replace(source.settings, log_predictions=0.0))
    bentos = [package(model, which, "loans_classifier", {"model_version": "bench"}, home).bento
              for which in (source, unlogged)]
    return *bentos, model, {**os.environ, "BENTOML_HOME": str(home),
                            "BENTOML_DO_NOT_TRACK": "true", MONITORING_ENV: str(tmp / "served")}


def serve_bento(bento: str, env: dict[str, str], port: int) -> tuple[subprocess.Popen, float]:
    """`bentoml serve` on loopback; the process and its cold start to the first answer."""
    return start([sys.executable, "-m", "bentoml", "serve", bento, "--host", "127.0.0.1",
                  "--port", str(port)], env, f"http://127.0.0.1:{port}/predict",
                 {"application": APPLICATION})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bento, unlogged, model, env = trained_bento(Path(tmp))
        bento_port, plain_port, unlogged_port = free_port(), free_port(), free_port()
        bento_url, plain_url = f"http://127.0.0.1:{bento_port}", f"http://127.0.0.1:{plain_port}"
        unlogged_url = f"http://127.0.0.1:{unlogged_port}"
        single, batch = {"application": APPLICATION}, {"applications": [APPLICATION] * 32}
        servers = []
        try:
            server, cold = serve_bento(bento, env, bento_port)
            servers.append(server)
            server, plain_cold = start([sys.executable, str(HERE / "plain_endpoint.py"),
                                        str(model), str(plain_port)], env,
                                       f"{plain_url}/predict", single)
            servers.append(server)
            servers.append(serve_bento(unlogged, env, unlogged_port)[0])
            print(f"cold start to the first good answer: bento {cold:.1f} s, "
                  f"plain endpoint {plain_cold:.1f} s")
            print(f"{'endpoint':34s} {'clients':>7s} {'req/s':>8s} {'rows/s':>8s} "
                  f"{'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s}")
            for concurrency in (1, 8, 64):
                rows = {}
                for name, url, body, size in (
                    ("plain PyTorch, per request", f"{plain_url}/predict", single, 1),
                    ("bento /predict (adaptive batch)", f"{bento_url}/predict", single, 1),
                    ("bento /predict_batch (32 rows)", f"{bento_url}/predict_batch", batch, 32),
                    ("  same, logging off", f"{unlogged_url}/predict", single, 1),
                    ("  same, logging off (32 rows)", f"{unlogged_url}/predict_batch", batch, 32),
                ):
                    result = load(url, body, concurrency, args.seconds)
                    rows[name] = result["rps"] * size
                    print(f"{name:34s} {concurrency:7d} {result['rps']:8.0f} "
                          f"{result['rps'] * size:8.0f} {result['p50_ms']:8.1f} "
                          f"{result['p99_ms']:8.1f} {result['errors']:6d} "
                          f"{result['error_statuses'] or ''}")
                base = rows.pop("plain PyTorch, per request")
                print("  rows/s vs plain: " + ", ".join(f"{k.split(' (')[0]} {v / base:.2f}x"
                                                        for k, v in list(rows.items())[:2]))
                on, off = list(rows.values())[:2], list(rows.values())[2:]
                print(f"  rows/s with logging on vs off: /predict {on[0] / off[0]:.2f}x, "
                      f"/predict_batch {on[1] / off[1]:.2f}x")
        finally:
            for server in servers:
                os.killpg(server.pid, 15)


if __name__ == "__main__":
    main()
