"""Bad data never reaches a model: a corpus of broken daily files lands beside good days in a
project that has a champion; each broken day fails alone with a message naming the file or
the column and rule, nothing below it runs, the good days flow, and the retrain that follows
learns and is judged on good days only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg
import pytest

from assetbook.resources.state import STATE_ENV, StateFolder
from assetbook.resources.tracking import CANDIDATE, CHAMPION, MlflowTracking
from project.stream import LoanStream
from tests.conftest import DATA, build_defs, failure_messages, materialize
from tests.reliability.champion import champion_project
from tests.reliability.corpus import CORPUS, ROWS, BrokenDay, LandedCorpus, land_corpus
from tests.reliability.ledger import Ledger

AREA = "bad data"
PER_DAY = [*DATA, "drift_report"]  # everything a landed day flows through
BELOW_SOURCE = PER_DAY[1:]
MODEL = "loans_classifier"
MODEL_ASSETS = ["candidate_model", "evaluation_report", "champion"]
SENSOR = "raw_applications_landing"
START, DAYS = date(2024, 1, 1), 3  # the simulator's first day; days up to the champion


@dataclass(frozen=True)
class ModelSide:
    """What a bad day must not move: the registry's aliases and the model assets' runs."""

    champion: str | None
    candidate: str | None
    champion_run: str | None
    candidate_run: str | None
    decisions: int


@dataclass(frozen=True)
class Landing:
    corpus: LandedCorpus
    requested: list[str]  # partition keys of the landing sensor's run requests
    results: dict[str, dg.ExecuteInProcessResult]
    before: ModelSide
    after_days: ModelSide  # after the days' runs, before the retrain
    retrain: dg.ExecuteInProcessResult
    instance: dg.DagsterInstance
    state: StateFolder


def model_side(instance: dg.DagsterInstance, state: StateFolder) -> ModelSide:
    registry = MlflowTracking.local(state.root)

    def last_run(asset: str) -> str | None:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        return event.run_id if event else None

    return ModelSide(registry.alias_version(MODEL, CHAMPION),
                     registry.alias_version(MODEL, CANDIDATE), last_run("champion"),
                     last_run("candidate_model"), len(state.promotions.read_text().splitlines()))


def sensor_requests(defs: dg.Definitions, instance: dg.DagsterInstance,
                    cursor: str | None) -> dg.SensorResult:
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as context:
        return defs.get_sensor_def(SENSOR)(context)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Landing]:
    """Build a champion, land the corpus with two good days, run every day the landing
    sensor asks for on its own, as the daemon would, then the retrain that new days bring."""
    root = tmp_path_factory.mktemp("bad_data") / "proj"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.setenv(STATE_ENV, str(root / ".assetbook"))
        champion_project(root, days=DAYS)
        state = StateFolder.for_project(root)
        defs = build_defs(root)
        with dg.DagsterInstance.from_config(str(state.dagster_home)) as instance:
            before = model_side(instance, state)
            seen = sensor_requests(defs, instance, None).cursor
            corpus = land_corpus(state.landing("raw_applications"),
                                 START + timedelta(days=DAYS),
                                 LoanStream(rows_per_partition=ROWS, seed=7))
            requested = [r.partition_key for r in sensor_requests(defs, instance, seen)
                         .run_requests if r.partition_key]
            results = {key: materialize(defs, instance, PER_DAY, [key]) for key in requested}
            after_days = model_side(instance, state)
            retrain = materialize(defs, instance, MODEL_ASSETS)
            yield Landing(corpus, requested, results, before, after_days, retrain, instance,
                          state)


def materialized(landing: Landing, asset: str) -> set[str]:
    return set(landing.instance.get_materialized_partitions(dg.AssetKey(asset)))


def key_of(landing: Landing, day: BrokenDay) -> str:
    return next(key for key, (case, _) in landing.corpus.broken.items() if case == day)


@pytest.mark.parametrize("day", CORPUS, ids=lambda day: day.case.replace(" ", "_"))
def test_a_broken_day_fails_alone_with_its_reason(
    landing: Landing, day: BrokenDay, ledger: Ledger
) -> None:
    ledger.record(AREA, cases=1, faults=1)
    key = key_of(landing, day)
    result = landing.results[key]
    assert landing.instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.FAILURE
    if day.stage == "reader":
        message = failure_messages(result)
        assert f"{key}{day.suffix}" in message
        assert key not in materialized(landing, "raw_applications")
    else:
        (evaluation,) = result.get_asset_check_evaluations()
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
        message = evaluation.description or ""
        assert key in materialized(landing, "raw_applications")  # kept as it arrived
    for expected in day.expected:
        assert expected in message, message
    for asset in BELOW_SOURCE:
        assert key not in materialized(landing, asset), asset
        assert not (landing.state.artifacts / asset / f"{key}.parquet").exists(), asset


def test_the_sensor_gives_each_landed_file_its_own_run(landing: Landing) -> None:
    """One run a file is what keeps a broken day from failing the good ones beside it."""
    assert sorted(landing.requested) == sorted([*landing.corpus.good, *landing.corpus.broken])


def test_good_days_landed_alongside_flow_to_the_models_inputs(
    landing: Landing, ledger: Ledger
) -> None:
    good = set(landing.corpus.good)
    lost = {key for key in good for asset in PER_DAY if key not in materialized(landing, asset)}
    ledger.record(AREA, cases=0, data_lost=len(lost))
    assert landing.after_days == landing.before  # the days' runs touched no model
    assert not lost
    assert all(landing.results[key].success for key in good)
    features = {p.stem for p in (landing.state.artifacts / "features").glob("*.parquet")}
    earlier = {(START + timedelta(days=i)).isoformat() for i in range(DAYS)}
    assert features == earlier | good  # what the next training window can read


def metadata(landing: Landing, asset: str) -> dict[str, object]:
    event = landing.instance.get_latest_materialization_event(dg.AssetKey(asset))
    assert event and event.asset_materialization
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_the_retrain_learns_and_is_judged_on_good_days_only(
    landing: Landing, ledger: Ledger
) -> None:
    broken = set(landing.corpus.broken)
    window = set(str(metadata(landing, "candidate_model")["window"]).split(", "))
    held_out = set(str(metadata(landing, "evaluation_report")["held_out_days"]).split(", "))
    decision = [json.loads(line) for line in landing.state.promotions.read_text().splitlines()
                ][-1]
    promoted_bad = decision["passed"] and bool(broken & (window | held_out))
    ledger.record(AREA, cases=0, bad_promoted=int(promoted_bad))
    assert landing.retrain.success or not decision["passed"], failure_messages(landing.retrain)
    assert set(landing.corpus.good) <= window | held_out  # the retrain did see the new days
    assert not broken & window, broken & window
    assert not broken & held_out, broken & held_out
    assert not broken & set(decision["days"])
