"""The status table: aligned columns, partition counts, stale causes, what serves."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from assetbook.cli.pipeline import known_keys, materialize_selection
from assetbook.cli.plan import AssetGraph
from assetbook.cli.session import Session
from assetbook.cli.status import (
    AssetStatus,
    ModelStatus,
    Partitions,
    ProjectStatus,
    ServedStatus,
    blocked_apart,
    landed_days,
    project_status,
    render,
    served_statuses,
)
from assetbook.resources.state import StateFolder
from assetbook.runners.serving.deployment import Endpoint
from assetbook.runners.serving.environments import serving_folder
from assetbook.spec.loader import load_project
from tests.conftest import build_defs, land, materialize

AT = datetime(2024, 1, 3, 12, 0, tzinfo=UTC)
STAGED, PROMOTED = "2026-12-03T10:00:00+00:00", "2026-12-01T10:00:00+00:00"


def local(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def test_render_aligns_the_assets_and_names_failures_causes_and_the_served_model() -> None:
    status = ProjectStatus(
        assets=(
            AssetStatus("features", AT, Partitions(2, 3, ("2024-01-02",), ()), "fresh", (),
                        "WARN"),
            AssetStatus("drift", AT, Partitions(1, 4, (), (), ("2024-01-02", "2024-01-03"),
                                                ("features",)), "fresh", (), None),
            AssetStatus("candidate_model", AT, None, "stale",
                        ("has a new code version", "has a new dependency data version "
                         "(features)"), None),
            AssetStatus("champion", None, None, "missing", (), "UNKNOWN", failed=True),
            AssetStatus("report", AT, None, "fresh", (), None, failed=True),
            AssetStatus("staged", AT, None, "stale", ("has a new dependency data version "
                        "(candidate_model)",), None, "candidate v2 refused: roc_auc 0.7 < 0.8"),
        ),
        models=(ModelStatus("loans_classifier", None),),
        served=(ServedStatus("staging", None, "http://127.0.0.1:3030", "2", "loans:abc",
                             STAGED, None, True),
                ServedStatus("production", "staging", "http://127.0.0.1:3031", "1", "loans:xyz",
                             PROMOTED, "alice", False)),
    )
    lines = render(status).splitlines()
    blocked = "1/4, 2 blocked by features: 2024-01-02, 2024-01-03"  # the widest cell

    def row(asset: str, when: str, partitions: str, freshness: str, data: str) -> str:
        return "  ".join([asset.ljust(15), when.ljust(19), partitions.ljust(len(blocked)),
                          freshness.ljust(9), data])

    at = AT.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert lines[:7] == [
        row("asset", "last materialized", "partitions", "freshness", "data"),
        row("features", at, "2/3, 1 failed: 2024-01-02", "WARN", "fresh"),
        row("drift", at, blocked, "-", "fresh"),  # never ran: a failure above stopped it
        row("candidate_model", at, "-", "-", "stale: has a new code version; has a new "
            "dependency data version (features)"),
        row("champion", "never", "-", "UNKNOWN",
            "missing: its last run failed (`assetbook run` says why)"),
        row("report", at, "-", "-", "fresh"),  # what failed since, its code undid
        row("staged", at, "-", "-", "stale: candidate v2 refused: roc_auc 0.7 < 0.8"),
    ]  # the gate's reason, not Dagster's
    assert lines[8:] == [
        "model loans_classifier: champion none yet",
        f"staging: v2 (loans:abc) on http://127.0.0.1:3030, since {local(STAGED)}",
        f"production (after staging): v1 (loans:xyz) on http://127.0.0.1:3031, since "
        f"{local(PROMOTED)}, approved by alice, not running: `assetbook serve`",
    ]


def test_render_says_when_nothing_is_served() -> None:
    status = ProjectStatus((), (ModelStatus("loans_classifier", "3"),),
                           (ServedStatus("deployment", None, "http://127.0.0.1:3030", None,
                                         None, None, None, False),))
    assert render(status).splitlines()[-2:] == ["model loans_classifier: champion v3",
                                                "deployment: nothing served"]


def test_render_says_a_failed_warn_check_before_the_models() -> None:
    status = ProjectStatus((), (ModelStatus("loans_classifier", "3"),), (),
                           warnings=("drift_report/no_drift: [2024-01-05] age: PSI 2.1 > 0.25",))
    assert render(status).splitlines()[-2:] == [
        "warning: drift_report/no_drift: [2024-01-05] age: PSI 2.1 > 0.25",
        "model loans_classifier: champion v3"]


def test_the_served_address_is_where_the_last_switch_put_the_front(
        project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Served on $ASSETBOOK_SERVE_PORT, asked about from a shell without it."""
    folder = serving_folder(StateFolder.for_project(project_dir), "deployment")
    folder.mkdir(parents=True)
    served = Endpoint("loans:abc", "2", 41000, 1, STAGED)
    (folder / "deployment.json").write_text(json.dumps(
        {"front_port": 3217, "active": asdict(served), "history": [asdict(served)]}))
    monkeypatch.delenv("ASSETBOOK_SERVE_PORT")
    (status,) = served_statuses(Session(project_dir))
    assert (status.url, status.model_version) == ("http://127.0.0.1:3217", "2")


def test_days_landed_since_the_last_run_are_said_before_any_run_registers_them(
        project_dir: Path) -> None:
    """Dagster has no partition for a day until a run or the landing sensor registers it, so
    the table cannot count it: a line says it is waiting."""
    session = Session(project_dir)
    first, *waiting = land(project_dir, 3)
    session.instance.add_dynamic_partitions("days", [first])  # what a run of that day did
    assert landed_days(session) == ([first], waiting)
    said = project_status(session)
    assert said.new_days == tuple(waiting)
    lines = render(said).splitlines()
    assert "landed since the last run: 2024-01-02, 2024-01-03: `assetbook run` takes them, as " \
        "does the landing sensor under `assetbook dev`" in lines
    assert lines[lines.index("model loans_classifier: champion none yet") - 1].startswith(
        "landed since the last run")  # after the table, before the models
    session.instance.add_dynamic_partitions("days", waiting[:1])
    assert render(ProjectStatus((), (), (), tuple(waiting[1:]))).splitlines()[2] == (
        "landed since the last run: 2024-01-03: `assetbook run` takes it, as does the landing "
        "sensor under `assetbook dev`")
    session.instance.add_dynamic_partitions("days", waiting[1:])
    assert landed_days(session) == ([first, *waiting], [])


def test_a_key_a_failure_above_stopped_is_blocked_not_failed(project_dir: Path) -> None:
    """Dagster marks every asset of a failed run failed; the first failure on each key is
    the asset's own, and what it stopped below is blocked by it."""
    order = AssetGraph(build_defs(project_dir), list(load_project(project_dir).assets))
    failed = {"raw_applications": ("d1",), "validated_applications": ("d1", "d2"),
              "features": ("d1", "d2", "d3"), "drift_report": ("d2",)}
    seen = {name: (AssetStatus(name, AT, Partitions(1, 4, keys, ()), "fresh", (), None),
                   {"d0"}) for name, keys in failed.items()}
    apart = {name: (status.partitions.failed, status.partitions.blocked,
                    status.partitions.blocked_by)
             for name, (status, _) in blocked_apart(order, seen).items()}
    assert apart == {
        "raw_applications": (("d1",), (), ()),
        "validated_applications": (("d2",), ("d1",), ("raw_applications",)),
        "features": (("d3",), ("d1", "d2"), ("raw_applications", "validated_applications")),
        "drift_report": ((), ("d2",), ("validated_applications",)),
    }


def test_a_day_never_read_whose_file_is_gone_is_forgotten_by_the_next_run(
        project_dir: Path) -> None:
    """A day whose runs all failed, its file deleted since, no longer reads '1 failed' for
    good; a day that was read keeps its partition, and what was computed from it."""
    session = Session(project_dir)
    read, never = land(project_dir, 2)
    assert known_keys(session) == [read, never]  # registered, as a run registers them
    assert materialize(build_defs(project_dir), session.instance, ["raw_applications"],
                       [read]).success
    folder = StateFolder.for_project(project_dir).landing("raw_applications")
    for key in (read, never):
        (folder / f"{key}.parquet").unlink()
    assert known_keys(session) == []
    assert session.instance.get_dynamic_partitions("days") == [read]


def test_a_day_registered_after_later_ones_is_not_left_out_of_a_range(
        project_dir: Path) -> None:
    """A forgotten day that lands again is registered after the later days, and a range run
    takes Dagster's order of the partitions: a range over it would leave it out and say
    nothing, so the days run in ranges that order holds side by side."""
    session = Session(project_dir)
    first, late, last = land(project_dir, 3)
    folder = StateFolder.for_project(project_dir).landing("raw_applications")
    kept = (folder / f"{late}.parquet").read_bytes()
    (folder / f"{late}.parquet").unlink()
    assert known_keys(session) == [first, last]  # never read: forgotten
    (folder / f"{late}.parquet").write_bytes(kept)
    assert known_keys(session) == [first, late, last]
    assert session.instance.get_dynamic_partitions("days") == [first, last, late]
    ran = materialize_selection(session, ["raw_applications"], None, downstream=False)
    assert [step.keys for step in ran.plan.days] == [(first,), (late,), (last,)]
    assert session.instance.get_materialized_partitions(dg.AssetKey("raw_applications")) == {
        first, late, last}
