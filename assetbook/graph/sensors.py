"""Sensors: the automation sensor (RUNNING by default, so `dagster dev` automates out of the
box) and one landing sensor per landing source, which turns new files into partitions and
corrected ones into new versions of them, each taken through the day's own assets in the same
run (graph/landing_chain.py)."""

from __future__ import annotations

import json

import dagster as dg

from assetbook.atomic import StorePath
from assetbook.data.landing import landed_files
from assetbook.graph.context import BuildContext
from assetbook.graph.landed import recorded_source_versions
from assetbook.graph.landing_chain import LANDING_RUN_TAG
from assetbook.kinds.source.landing import landing_folder, landing_spec
from assetbook.resources.store import is_local
from assetbook.resources.versions import content_version
from assetbook.spec.loader import DeclaredAsset

AUTOMATION_SENSOR = "assetbook_automation"
# The daemon's loops come every 5 s, and skip a sensor whose last tick started less than its
# interval ago: at 5 s, a tick started a little late skips the next loop (a 10 s wait), and at
# 10 s (the interval before) a landed day's model waited up to 15 s. Under 5 s, the sensors
# tick on every loop; that costs `dagster dev` at idle ~1.3 CPU-s a minute more than 10 s and
# 5 s did (4.6 against 3.3, measured).
EACH_LOOP_S = 4


def build_automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """Evaluated on each pass of the daemon's loop: a landed day waits for this tick between
    its day's run and its model's."""
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=EACH_LOOP_S,
        description="Evaluates every asset's automation condition (eager, cron, code change).",
    )


def build_landing_sensor(ctx: BuildContext, declared: DeclaredAsset) -> dg.SensorDefinition:
    """Requests a run of the source and its chain for each new file and each file whose
    content changed (a rewrite with the same bytes is no change); adds dynamic partitions."""
    source = landing_spec(declared)
    folder = landing_folder(ctx.project, ctx.state, declared.name, source)
    partitions_def = ctx.partitions_def(declared.name)

    @dg.sensor(name=f"{declared.name}_landing",
               asset_selection=ctx.landing_chains[declared.name],
               default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=EACH_LOOP_S,
               description=f"Turns files landing in {folder} into partitions of "
                           f"{declared.name}, and corrected files into new versions of them.")
    def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        files = landed_files(folder, source.formats)
        seen: dict[str, list[str]] = json.loads(context.cursor) if context.cursor else {}
        now = {key: _seen(path, seen.get(key)) for key, path in files.items()}
        before = {key: version for key, (_, version) in seen.items()} if context.cursor else (
            _already_read(context.instance, declared.name, now))
        changed = sorted(key for key, (_, version) in now.items() if before.get(key) != version)
        requests = []
        if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
            known = set(context.instance.get_dynamic_partitions(partitions_def.name))
            new = [key for key in changed if key not in known]
            if new:
                requests.append(partitions_def.build_add_request(new))
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"{key}@{now[key][0]}", partition_key=key,
                                        tags={LANDING_RUN_TAG: declared.name})
                          for key in changed],
            dynamic_partitions_requests=requests,
            cursor=json.dumps(now, sort_keys=True),
        )

    return landing_sensor


def _seen(path: StorePath, before: list[str] | None) -> list[str]:
    """[fingerprint, content version] of a landed file; hashed again only if it was touched."""
    fingerprint = _fingerprint(path)
    if before is not None and before[0] == fingerprint:
        return before
    return [fingerprint, content_version(path)]


def _already_read(instance: dg.DagsterInstance, asset: str,
                  now: dict[str, list[str]]) -> dict[str, str]:
    """The first tick's baseline: days read before the sensor ever ran (by `assetbook run`)
    count as seen if their file is unchanged, so starting `dagster dev` recomputes only what
    was corrected meanwhile."""
    recorded = recorded_source_versions(instance, asset, now)
    return {key: version or now[key][1] for key, version in recorded.items()}


def _fingerprint(path: StorePath) -> str:
    """Modification time in ns and size: a file replaced within one coarse mtime tick
    still counts as touched. On an object store, whose times are in whole seconds, the
    object's ETag (a digest of its content) instead."""
    stat = path.stat()
    if not is_local(path) and (etag := stat.info.get("ETag")):
        return str(etag).strip('"')
    return f"{stat.st_mtime_ns}-{stat.st_size}"
