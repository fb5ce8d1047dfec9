"""The default pipeline under the embedded profile and under a shared one, time per stage side by
side, in one run: the same project (the loans example, 7 days) run by `assetbook run` with
everything in `.assetbook/`, then with artifacts in an S3 bucket (moto's server), the Dagster
instance on Postgres, MLflow on a tracking server and the search and training on a Ray cluster
of two nodes, all started here on 127.0.0.1 (the tests' own starters). Prints one line a stage
and the ratio shared / embedded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_init import step_seconds  # noqa: E402

from tests.conftest import BIN, copy_example  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.ray_cluster import two_node_cluster  # noqa: E402
from tests.services import shared_services_running  # noqa: E402

DAYS = 7


def run_pipeline(root: Path, profile: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "assetbook"), "--profile", profile, "run", "--days",
                           str(DAYS)], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {profile} run failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    seconds = time.perf_counter() - started
    subprocess.run([str(BIN / "assetbook"), "--profile", profile, "stop"], cwd=root, env=env,
                   capture_output=True)
    return seconds


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASSETBOOK_", "MLFLOW_", "RAY_ADDRESS"))}
    with tempfile.TemporaryDirectory(prefix="bench-profiles-") as scratch:
        embedded = copy_example(Path(scratch) / "embedded")
        total_embedded = run_pipeline(embedded, "embedded",
                                      {**env, "ASSETBOOK_SERVE_PORT": str(free_port())})
        steps_embedded = step_seconds(embedded / ".assetbook" / "dagster")
        shared = copy_example(Path(scratch) / "shared")
        with shared_services_running(Path(scratch) / "services") as services, \
                two_node_cluster() as ray:
            (shared / "profiles.yaml").write_text(yaml.safe_dump({"shared": {
                "store": f"s3://{services.bucket}/loans", "postgres":
                services.postgres_url_dagster, "mlflow": services.mlflow_uri, "ray": ray,
                "environment": dict(services.environment)}}))
            total_shared = run_pipeline(shared, "shared",
                                        {**env, "ASSETBOOK_SERVE_PORT": str(free_port())})
            steps_shared = step_seconds(shared / ".assetbook" / "dagster")
    print(f"`assetbook run --days {DAYS}`, embedded vs shared profile (S3 API server, Postgres, "
          "MLflow server, 2-node Ray), seconds per stage:")
    print(f"  {'stage':32s} {'embedded':>9s} {'shared':>9s} {'ratio':>7s}")
    rows = [*{**steps_embedded, **steps_shared}]
    for step in rows:
        first, second = steps_embedded.get(step, 0.0), steps_shared.get(step, 0.0)
        ratio = f"{second / first:6.2f}x" if first else "      -"
        print(f"  {step:32s} {first:9.1f} {second:9.1f} {ratio}")
    around = (total_embedded - sum(steps_embedded.values()),
              total_shared - sum(steps_shared.values()))
    print(f"  {'imports, launches, answer':32s} {around[0]:9.1f} {around[1]:9.1f} "
          f"{around[1] / around[0]:6.2f}x")
    print(f"  {'total':32s} {total_embedded:9.1f} {total_shared:9.1f} "
          f"{total_shared / total_embedded:6.2f}x")


if __name__ == "__main__":
    main()
