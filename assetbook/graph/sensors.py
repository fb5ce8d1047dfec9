"""Sensors: the automation sensor (RUNNING by default, so `dagster dev` automates out of the
box) and one landing sensor per landing source, which turns new files into partitions."""

from __future__ import annotations

import json

import dagster as dg

from assetbook.atomic import StorePath
from assetbook.data.landing import landed_files
from assetbook.graph.context import BuildContext, is_landing_source, landing_folder
from assetbook.kinds.source import SourceAssetSpec
from assetbook.resources.store import is_local
from assetbook.spec.loader import DeclaredAsset
from assetbook.spec.models import LandingSourceSpec

AUTOMATION_SENSOR = "assetbook_automation"


def build_automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=10,
        description="Evaluates every asset's automation condition (eager, cron, code change).",
    )


def landing_sources(ctx: BuildContext) -> list[DeclaredAsset]:
    return [d for d in ctx.project.assets.values() if is_landing_source(d.spec)]


def build_landing_sensor(ctx: BuildContext, declared: DeclaredAsset) -> dg.SensorDefinition:
    """Requests a run of the source for each new or changed file; adds dynamic partitions."""
    assert isinstance(declared.spec, SourceAssetSpec)
    source = declared.spec.source
    assert isinstance(source, LandingSourceSpec)
    folder = landing_folder(ctx, declared.name, source)
    partitions_def = ctx.partitions_def(declared.name)

    @dg.sensor(name=f"{declared.name}_landing", asset_selection=[declared.name],
               default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=5,
               description=f"Turns files landing in {folder} into partitions of "
                           f"{declared.name}.")
    def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        files = {key: _fingerprint(path) for key, path in landed_files(
            folder, source.formats).items()}
        seen: dict[str, str] = (json.loads(context.cursor) if context.cursor else
                                _already_materialized(context.instance, declared.name, files))
        changed = sorted(key for key, mtime in files.items() if seen.get(key) != mtime)
        requests = []
        if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
            known = set(context.instance.get_dynamic_partitions(partitions_def.name))
            new = [key for key in changed if key not in known]
            if new:
                requests.append(partitions_def.build_add_request(new))
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"{key}@{files[key]}", partition_key=key)
                          for key in changed],
            dynamic_partitions_requests=requests,
            cursor=json.dumps(files, sort_keys=True),
        )

    return landing_sensor


def _already_materialized(instance: dg.DagsterInstance, asset: str,
                          files: dict[str, str]) -> dict[str, str]:
    """The first tick's cursor: days materialized before the sensor ever ran (by `assetbook
    run`) count as seen, so starting `dagster dev` recomputes nothing."""
    done = instance.get_materialized_partitions(dg.AssetKey(asset))
    return {key: fingerprint for key, fingerprint in files.items() if key in done}


def _fingerprint(path: StorePath) -> str:
    """Modification time in ns and size: a file replaced within one coarse mtime tick
    still counts as changed. On an object store, whose times are in whole seconds, the
    object's ETag (a digest of its content) instead."""
    stat = path.stat()
    if not is_local(path) and (etag := stat.info.get("ETag")):
        return str(etag).strip('"')
    return f"{stat.st_mtime_ns}-{stat.st_size}"
