"""Training through Ray Train on a cluster: a user's error arrives as its message, and a run
past its timeout is stopped with every actor it started. The fit itself, one worker on each of
two nodes reading from an object store, is proved by tests/e2e/test_shared_profile.py.

Ray Train starts a controller, its helper actors and the workers as processes of their own, each
importing what it needs: a run takes tens of seconds on a 2-core machine, a trivial one too.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import make_classification

from assetbook.errors import StepTimeoutError
from assetbook.runners.training.fit import TrainingJob
from assetbook.runners.training.launch import TrainingError
from assetbook.runners.training.on_ray import train_on_ray
from assetbook.spec.models import TrainerSpec

pytestmark = pytest.mark.slow

BUCKET = "training"


@pytest.fixture(scope="module")
def cluster(shared_ray: str) -> str:
    """The test process's cluster (tests/ray_cluster.py): what these tests prove needs no
    second node; the shared-profile test trains on two (tests/e2e/test_shared_profile.py)."""
    return shared_ray


def frame(rows: int = 2000) -> pd.DataFrame:
    x, y = make_classification(n_samples=rows, n_features=8, n_informative=5, random_state=1)
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(8)]).assign(target=y)


def job(data: str, output: Path, max_epochs: int = 3, **hyperparameters: Any) -> TrainingJob:
    return TrainingJob("assetbook.models:TabularNet", "target", (data,),
                       TrainerSpec(max_epochs=max_epochs, batch_size=128, devices=2),
                       {"lr": 0.01, **hyperparameters}, str(output))


@contextlib.contextmanager
def connected(address: str) -> Iterator[Any]:
    """This process as a driver of the cluster, for a look at it (not for train_on_ray, which
    connects by itself)."""
    import ray

    ray.init(address=address, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def actors(*names: str) -> dict[str, dict[str, Any]]:
    """The actors of these classes, by id, as Ray's GCS has them (a driver connected). Ray's
    state API, `ray.util.state`, would ask the dashboard, which `ray[tune]` does not install."""
    from ray._private import state

    return {key: actor for key, actor in state.actors().items()
            if actor["ActorClassName"] in names}


def test_an_error_of_the_fit_arrives_as_its_message(cluster: str, tmp_path: Path) -> None:
    data = tmp_path / "days.parquet"
    frame(400).to_parquet(data)
    with pytest.raises(TrainingError) as raised:
        train_on_ray(job(str(data), tmp_path / "model.pt", momentum=0.9), cluster)
    assert str(raised.value).startswith("model 'assetbook.models:TabularNet' rejects "
                                        "hyperparameters ['lr', 'momentum']: ")
    assert "Traceback" not in str(raised.value)
    assert not (tmp_path / "model.pt").exists()


def test_past_its_timeout_the_run_is_stopped(cluster: str, tmp_path: Path) -> None:
    """Wherever the run is when time runs out (Ray Train starting, or the workers fitting),
    none of its actors outlives it, though this process stays connected to Ray (which
    train_on_ray then uses); the workers' CPUs are free once that connection ends."""
    data = tmp_path / "days.parquet"
    frame(400).to_parquet(data)
    names = ("_Run", "TrainController", "RayTrainWorker")  # ours, Ray Train's
    temporary = tmp_path / "tmp"  # the ranks' temporary folder
    temporary.mkdir()
    with connected(cluster):
        before = set(actors(*names))
        started = time.monotonic()
        with pytest.raises(StepTimeoutError, match=r"^asset 'model': timed out after 25 s .* "
                           "the Ray Train workers are stopped; "):
            train_on_ray(job(str(data), tmp_path / "model.pt", max_epochs=100_000), cluster,
                         timeout_s=25, what="asset 'model'", env={"TMPDIR": str(temporary)})
        assert time.monotonic() - started < 40
        assert not (tmp_path / "model.pt").exists()
        assert not list(temporary.iterdir())  # a killed rank's scratch is in Ray's run folder
        run = {k: a for k, a in actors(*names).items() if k not in before}
        alive = until(lambda: [a["ActorClassName"] for k, a in actors(*names).items()
                               if k in run and a["State"] != "DEAD"], [])
    assert run and not alive

    with connected(cluster) as ray:
        assert until(lambda: ray.available_resources().get("CPU", 0), 2) == 2


def until(value: Callable[[], Any], expected: Any, seconds: float = 30) -> Any:
    """`value()` once it is `expected`, or its last value after `seconds`."""
    deadline = time.monotonic() + seconds
    while (current := value()) != expected and time.monotonic() < deadline:
        time.sleep(1)
    return current
