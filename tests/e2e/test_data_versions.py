"""Data versions on a user's own project (`assetbook init` on daily CSV files of pump sensor
readings): every stored partition is kept under its content version, a corrected landed file
re-runs exactly its day and the models that read it, an identical rewrite runs nothing, and
each model's lineage names the exact bytes it read, still stored after the correction.

The project runs with the `assetbook` command, as a user's does; the tests share its state
and run in order (each builds on the previous one's runs)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from sklearn import datasets

from assetbook.resources.versions import VERSIONS_FOLDER, content_version
from assetbook.spec.loader import load_project
from tests.conftest import BIN

DAYS = [f"2024-05-0{day}" for day in range(1, 7)]
CORRECTED = DAYS[2]  # in the training window (the first four days), not held out
COLUMNS = ["temperature", "vibration", "pressure", "rpm"]


@dataclass(frozen=True)
class Pumps:
    root: Path
    data: Path
    lineages: dict[str, dict] = field(default_factory=dict)  # read once per version

    @property
    def artifacts(self) -> Path:
        return self.root / ".assetbook" / "artifacts"

    def assetbook(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([str(BIN / "assetbook"), *args], cwd=self.root,
                                env={**os.environ, "PYTHONPATH": ""}, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def materializations(self) -> dict[tuple[str, str], list[dg.EventLogRecord]]:
        """Every materialization so far, by (asset, partition), oldest first."""
        with dg.DagsterInstance.from_config(str(self.root / ".assetbook" / "dagster")) as inst:
            found: dict[tuple[str, str], list[dg.EventLogRecord]] = {}
            for key in inst.get_asset_keys():
                for record in inst.fetch_materializations(key, limit=1000,
                                                          ascending=True).records:
                    materialization = record.asset_materialization
                    assert materialization is not None
                    found.setdefault((key.to_user_string(), materialization.partition or "all"),
                                     []).append(record)
            return found

    def kept_versions(self) -> set[Path]:
        """`asset/partition/version` of every kept version."""
        kept = self.artifacts / VERSIONS_FOLDER
        return {Path(p.relative_to(kept).parent, p.stem) for p in kept.rglob("*.*")}

    def lineage(self, version: str) -> dict:
        if version not in self.lineages:
            self.lineages[version] = json.loads(self.assetbook("lineage", version,
                                                               "--json").stdout)
        return self.lineages[version]


def pump_days(folder: Path) -> None:
    x, y = datasets.make_classification(n_samples=len(DAYS) * 120, n_features=4,
                                        n_informative=3, n_redundant=0, random_state=3)
    frame = pd.DataFrame(x, columns=COLUMNS).assign(failure=y)
    folder.mkdir()
    for index, day in enumerate(DAYS):
        frame.iloc[index * 120:(index + 1) * 120].to_csv(folder / f"{day}.csv", index=False)


def fast(spec_path: Path) -> None:
    """No search (fixed hyper-parameters), two epochs, a gate every candidate passes: the
    tests are about what is re-run and recorded, not about the model."""
    spec = yaml.safe_load(spec_path.read_text())
    assets = spec["assets"]
    assets.pop("hyperparameters")
    model = assets["candidate_model"]
    model["inputs"].pop("hyperparameters")
    model["hyperparameters"] = {"hidden": 16, "lr": 0.01, "dropout": 0.0}
    model["trainer"]["max_epochs"] = 2
    assets["champion"]["gate"] = {"min": {"roc_auc": 0.0}, "margin": 1.0}
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.fixture(scope="module")
def pumps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pumps]:
    base = tmp_path_factory.mktemp("pumps")
    pump_days(base / "data")
    subprocess.run([str(BIN / "assetbook"), "init", "pumps", "--data", "data", "--target",
                    "failure"], cwd=base, check=True, capture_output=True, timeout=300)
    project = Pumps(base / "pumps", base / "data")
    fast(project.root / "assets" / "pumps.yaml")
    subprocess.run(["git", "commit", "-qam", "faster for the tests"], cwd=project.root,
                   check=True)
    project.assetbook("run", "--no-serve")
    yield project


def test_every_partition_is_kept_under_the_version_its_materialization_records(
        pumps: Pumps) -> None:
    records = pumps.materializations()
    for day in DAYS:
        (record,) = records["features", day]
        recorded = record.asset_materialization.metadata["content_version"].value
        latest = pumps.artifacts / "features" / f"{day}.parquet"
        kept = pumps.artifacts / VERSIONS_FOLDER / "features" / day / f"{recorded}.parquet"
        assert content_version(latest) == recorded
        assert kept.read_bytes() == latest.read_bytes()
    (model,) = records["candidate_model", "all"]
    assert model.asset_materialization.tags["dagster/data_version"] == (
        model.asset_materialization.metadata["content_version"].value)


def test_a_corrected_file_reruns_its_day_and_the_models_that_read_it(pumps: Pumps) -> None:
    before = pumps.materializations()
    original = pd.read_csv(pumps.data / f"{CORRECTED}.csv")
    original.iloc[:60].to_csv(pumps.data / f"{CORRECTED}.csv", index=False)  # half the rows

    pumps.assetbook("run", "--no-serve")

    after = pumps.materializations()
    rerun = {key for key in after if len(after[key]) > len(before.get(key, []))}
    assert rerun == {(asset, CORRECTED) for asset in ("raw_data", "validated_data",
                                                      "features", "drift_report")} | {
        ("candidate_model", "all"), ("evaluation_report", "all"), ("champion", "all")}
    (new,) = after["raw_data", CORRECTED][1:]
    assert new.asset_materialization.metadata["dagster/row_count"].value == 60
    assert new.asset_materialization.tags["dagster/data_version"] == (
        new.asset_materialization.metadata["content_version"].value)


def test_an_identical_rewrite_reruns_nothing(pumps: Pumps) -> None:
    before = pumps.materializations()
    for day in DAYS:  # same bytes, new modification times
        path = pumps.data / f"{day}.csv"
        content = path.read_bytes()
        path.unlink()
        path.write_bytes(content)

    result = pumps.assetbook("run", "--no-serve")

    assert "everything was already materialized" in result.stdout
    assert {k: len(v) for k, v in pumps.materializations().items()} == {
        k: len(v) for k, v in before.items()}


def test_the_first_models_lineage_names_the_bytes_it_read_before_the_correction(
        pumps: Pumps) -> None:
    first, second = pumps.lineage("1"), pumps.lineage("champion")
    assert second["version"] == "2"
    for found in (first, second):
        assert [r["partition"] for r in found["reads"]] == DAYS[:4]
        assert [r["partition"] for r in found["held_out"]] == DAYS[4:]
        assert all(r["stored"] for r in found["reads"] + found["held_out"])
        assert found["commit"] == subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=pumps.root, capture_output=True,
            text=True).stdout.strip()
        # every asset of the project, those the training's run only read or never saw too
        assert sorted(found["code_versions"]) == sorted(load_project(pumps.root).assets)
        assert all(found["code_versions"].values()), found["code_versions"]
    old = {r["partition"]: r["version"] for r in first["reads"]}
    new = {r["partition"]: r["version"] for r in second["reads"]}
    assert {day for day in DAYS[:4] if old[day] != new[day]} == {CORRECTED}
    kept = pumps.artifacts / VERSIONS_FOLDER / "features" / CORRECTED
    assert len(pd.read_parquet(kept / f"{old[CORRECTED]}.parquet")) == 120
    assert len(pd.read_parquet(pumps.artifacts / "features" / f"{CORRECTED}.parquet")) == 60


def test_an_earlier_version_loads_by_its_id(pumps: Pumps) -> None:
    old = {r["partition"]: r["version"] for r in pumps.lineage("1")["reads"]}
    code = (f"from assetbook import load; print(len(load('features', '{CORRECTED}', "
            f"version='{old[CORRECTED]}')), len(load('features', '{CORRECTED}')))")
    result = subprocess.run([str(BIN / "python"), "-c", code], cwd=pumps.root,
                            capture_output=True, text=True, timeout=300)
    assert result.stdout.split() == ["120", "60"], result.stderr


def test_history_shows_each_version_with_its_gate_and_commit(pumps: Pumps) -> None:
    rows = json.loads(pumps.assetbook("history", "--json").stdout)
    assert [(r["version"], r["gate"]) for r in rows] == [("1", "promoted"), ("2", "promoted")]
    assert all(0.0 <= r["metrics"]["roc_auc"] <= 1.0 for r in rows)
    assert all(r["window"] == f"{DAYS[0]}..{DAYS[3]}" for r in rows)
    # the registry's aliases (a search of versions returns them empty)
    assert [r["aliases"] for r in rows] == [["previous"], ["candidate", "champion"]]
    table = pumps.assetbook("history").stdout
    assert table.splitlines()[0].split()[:4] == ["version", "created", "window", "roc_auc"]
    (latest,) = [line for line in table.splitlines() if line.startswith("v2 ")]
    assert latest.endswith("candidate, champion")
    assert (pumps.root / ".assetbook" / "history.png").read_bytes()[:4] == b"\x89PNG"


def test_reproduce_rebuilds_the_first_champion_from_the_bytes_it_read(pumps: Pumps) -> None:
    result = pumps.assetbook("reproduce", "1")

    lines = result.stdout.splitlines()
    assert "data: the recorded versions" in result.stdout
    assert lines[-1] == "result: identical" or lines[-1].startswith(
        "result: within tolerance"), result.stdout
    recorded = pumps.lineage("1")["held_out_metrics"]
    (roc_auc,) = [line.split() for line in lines if line.split()[0] == "roc_auc"]
    assert float(roc_auc[4]) == pytest.approx(recorded["roc_auc"], abs=1e-6)
    (rows,) = [line.split() for line in lines if line.split()[0] == "rows"]
    assert rows[2] == f"{recorded['rows']:.0f}"  # a count, not a metric's six places
    assert [r["version"] for r in json.loads(pumps.assetbook("history", "--json").stdout)] == [
        "1", "2"]  # the rebuild registered nothing in the project's registry


def test_gc_on_schedule_removes_only_versions_no_model_read(pumps: Pumps) -> None:
    """`assetbook gc --dry-run` says what would go; the scheduled job removes just that."""
    before = pumps.kept_versions()
    lineages = [pumps.lineage(version) for version in ("1", "champion")]  # v1 and v2
    first = {r["partition"]: r["version"] for r in lineages[0]["reads"]}
    read_by_models = {Path(r["asset"], r["partition"], r["version"]) for found in lineages
                      for r in found["reads"] + found["held_out"]}

    dry = pumps.assetbook("gc", "--keep", "0", "--dry-run").stdout.splitlines()
    assert pumps.kept_versions() == before
    code = ("import dagster as dg; from assetbook.graph.definitions import definitions_for; "
            "defs = definitions_for('.'); "
            "(schedule,) = defs.schedules; assert schedule.default_status.value == 'STOPPED'; "
            "instance = dg.DagsterInstance.from_config('.assetbook/dagster'); "
            "result = defs.resolve_job_def('assetbook_gc').execute_in_process(instance=instance,"
            " run_config={'ops': {'remove_unreferenced_versions': {'config': {'keep': 0}}}}); "
            "assert result.success")
    scheduled = subprocess.run([str(BIN / "python"), "-c", code], cwd=pumps.root,
                               capture_output=True, text=True, timeout=300)
    assert scheduled.returncode == 0, scheduled.stderr[-3000:]

    after = pumps.kept_versions()
    removed = before - after
    assert read_by_models <= after and not removed & read_by_models
    for asset, key, version in (p.parts for p in removed):  # never what readers get now
        latest = next((pumps.artifacts / asset).glob(f"{key}.*"))
        assert content_version(latest) != version
    raw_versions = {p.name for p in before if p.parent == Path("raw_data", CORRECTED)}
    assert len(raw_versions) == 2 and len(raw_versions & {p.name for p in removed}) == 1
    assert Path("features", CORRECTED, first[CORRECTED]) in after  # the first model read it
    assert {line.strip() for line in dry[:-1]} == {p.as_posix() for p in removed}
    assert dry[-1].startswith(f"would remove {len(removed)} version(s)")
