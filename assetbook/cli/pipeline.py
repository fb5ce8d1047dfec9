"""`assetbook run`: land the default data if none is there, then materialize what is missing.

It runs in this process against the project's own Dagster instance, so every run shows up in
`assetbook dev` afterwards, exactly as if the sensors and automation had launched it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import dagster as dg

from assetbook.cli.session import Session, landing_spec
from assetbook.data.landing import landed_files
from assetbook.errors import AssetbookError
from assetbook.graph.context import BuildContext
from assetbook.graph.internals import RANGE_END_TAG, RANGE_START_TAG
from assetbook.graph.orphans import PID_TAG, fail_orphaned_runs
from assetbook.kinds.tune import TuneAssetSpec
from assetbook.runners.simulator import land_days, load_generator


@dataclass(frozen=True)
class PipelineRun:
    landed: list[str]
    computed: list[str]
    assets: list[str]
    models: list[str]
    failed: dict[str, str]  # day -> why it failed (its checks, or the unreadable file)


SERVING_KINDS = ("package", "deploy")


def simulate(session: Session, days: int, source: str | None = None,
             rows: int | None = None) -> list[str]:
    """Land `days` more simulated days (of `rows` rows, default: the spec's); their keys."""
    declared, folder = session.landing_source(source, simulated=True)
    simulator = landing_spec(declared).simulator
    assert simulator is not None
    return [p.stem for p in land_days(folder, load_generator(simulator, rows), simulator.start,
                                      days)]


def run_pipeline(session: Session, days: int, rows: int | None = None,
                 serve: bool = True) -> PipelineRun:
    """With a simulator, land days up to `days`; then materialize what is missing for every
    landed day. Without `serve`, the package and deploy assets are left out (a CI sample is
    judged, not served)."""
    declared, folder = session.landing_source()
    landing = landing_spec(declared)
    have = len(landed_files(folder, landing.formats))
    if landing.simulator is not None and have < days:
        simulate(session, days - have, declared.name, rows)
    keys = sorted(landed_files(folder, landing.formats))
    if not keys:
        raise AssetbookError(f"no data: drop daily files named <day>.csv or <day>.parquet "
                             f"into {folder}")
    ctx = BuildContext(session.project, session.state)
    partitions_def = ctx.partitions_def(declared.name)
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        known = set(session.instance.get_dynamic_partitions(partitions_def.name))
        session.instance.add_dynamic_partitions(partitions_def.name,
                                                [k for k in keys if k not in known])
    partitioned = [name for name in session.project.assets
                   if ctx.partitions_def(name) == partitions_def]
    todo = _first_missing(session, partitioned, keys)
    failed = _materialize_days(session, partitioned, todo)
    computed = [key for key in todo if key not in failed]
    if failed and not computed:
        raise AssetbookError("no new day could be processed:\n" + "\n".join(
            f"{key}: {message}" for key, message in failed.items()))
    models = [m for m in _models_to_run(session, ctx, bool(computed))
              if serve or session.project.assets[m].spec.kind not in SERVING_KINDS]
    if models:
        materialize_assets(session, models, {})
    return PipelineRun(landed=keys, computed=computed, assets=partitioned, models=models,
                       failed=failed)


def _materialize_days(session: Session, assets: list[str], keys: list[str]) -> dict[str, str]:
    """All days in one run (one notebook kernel); if that fails, each day on its own, so
    one bad day cannot hold back the good ones. Returns the failed days' messages."""
    if not keys:
        return {}
    try:
        materialize_assets(session, assets, {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]})
        return {}
    except AssetbookError:
        pass
    failed = {}
    for key in keys:
        try:
            materialize_assets(session, assets, {}, partition_key=key)
        except AssetbookError as exc:
            failed[key] = str(exc)
    return failed


def materialize_assets(session: Session, selection: list[str], tags: dict[str, str],
                       partition_key: str | None = None) -> None:
    fail_orphaned_runs(session.instance)
    result = dg.materialize(
        list(session.defs.assets or []),
        selection=selection,
        partition_key=partition_key,
        instance=session.instance,
        resources=session.defs.resources,
        tags={**tags, "assetbook/launched_by": "run", PID_TAG: str(os.getpid())},
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    if not result.success:
        failures = [e.step_failure_data.error.message if e.step_failure_data and
                    e.step_failure_data.error else e.message for e in result.all_events
                    if e.is_step_failure]
        checks = [f"check {c.asset_key.to_user_string()}/{c.check_name} failed: {c.description}"
                  for c in result.get_asset_check_evaluations() if not c.passed]
        raise AssetbookError("the pipeline run failed:\n" + "\n".join(failures + checks))


def _models_to_run(session: Session, ctx: BuildContext, new_data: bool) -> list[str]:
    """Unpartitioned assets that are missing, plus (after new data) all but the tuning,
    which runs on its cron or on a code change."""
    names = [n for n in session.project.assets if ctx.partitions_def(n) is None]
    return [n for n in names
            if not session.instance.get_latest_materialization_event(dg.AssetKey(n))
            or (new_data and not isinstance(session.project.assets[n].spec, TuneAssetSpec))]


def _first_missing(session: Session, assets: list[str], keys: list[str]) -> list[str]:
    """Keys from the first one some asset lacks, to the end (a range runs in one kernel)."""
    done = [set(session.instance.get_materialized_partitions(dg.AssetKey(a))) for a in assets]
    missing = [i for i, key in enumerate(keys) if any(key not in d for d in done)]
    return keys[missing[0]:] if missing else []
