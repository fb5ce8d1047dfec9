"""`assetbook status`: per asset, what is materialized, stale or late; the champion of each
registered model; what each deployment serves.

It only reads the project's Dagster instance, MLflow registry and deployment records, so it
answers the same whether or not `assetbook dev` is running.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

import dagster as dg

from assetbook.cli.check_warnings import latest_warnings
from assetbook.cli.pipeline import LandedDays, registered_days, run_plan
from assetbook.cli.plan import AssetGraph, Plan
from assetbook.cli.session import Session
from assetbook.errors import AssetbookError
from assetbook.graph.context import BuildContext
from assetbook.graph.internals import Freshness, GraphState, StaleState
from assetbook.graph.stored import describe_keys
from assetbook.graph.training import registered_names
from assetbook.resources.tracking import CHAMPION, MlflowTracking
from assetbook.runners.serving.environments import deployer, deployments, fed_by
from assetbook.runners.serving.processes import alive


@dataclass(frozen=True)
class Partitions:
    materialized: int
    total: int
    failed: tuple[str, ...]
    stale: tuple[str, ...]
    blocked: tuple[str, ...] = ()  # failed in Dagster's eyes, never reached: ...
    blocked_by: tuple[str, ...] = ()  # ... the assets above that failed on those keys


@dataclass(frozen=True)
class AssetStatus:
    name: str
    last_materialized: datetime | None
    partitions: Partitions | None  # None: not partitioned
    data: StaleState  # Dagster's stale status; a partitioned asset is stale if a partition is
    causes: tuple[str, ...]  # why it is stale, in Dagster's words
    freshness: Freshness | None  # None: no freshness policy
    refused: str | None = None  # a gate's refusal that stands until new data or code
    failed: bool = False  # not partitioned: its own step failed in its latest run


@dataclass(frozen=True)
class ModelStatus:
    name: str  # the registered model
    champion: str | None  # the version with the alias `champion`


@dataclass(frozen=True)
class ServedStatus:
    asset: str  # the deployment, an environment
    after: str | None  # the deployment it is promoted from; None: each champion comes here
    url: str
    model_version: str | None  # None: nothing active (never deployed, or stopped)
    bento: str | None
    since: str | None  # when it started serving
    approved_by: str | None  # who or what promoted it here (a person, a rule, a rollback)
    running: bool


@dataclass(frozen=True)
class ProjectStatus:
    assets: tuple[AssetStatus, ...]
    models: tuple[ModelStatus, ...]
    served: tuple[ServedStatus, ...]
    new_days: tuple[str, ...] = ()  # landed, and not yet known to Dagster: no run read them
    warnings: tuple[str, ...] = ()  # WARN checks whose latest evaluation failed (drift)


def project_status(session: Session) -> ProjectStatus:
    landed = landed_days(session)
    return ProjectStatus(asset_statuses(session, landed), model_statuses(session),
                         served_statuses(session), tuple(landed.new) if landed else (),
                         tuple(latest_warnings(session.instance, session.defs)))


def landed_days(session: Session) -> LandedDays | None:
    """The landed days Dagster knows, and those that landed since the last run (it has no
    partition for them yet, so the assets' table cannot count them); None without a single
    landing source: nothing for `run` to plan over."""
    try:
        return registered_days(session)
    except AssetbookError:
        return None


def asset_statuses(session: Session, landed: LandedDays | None) -> tuple[AssetStatus, ...]:
    """Each asset as Dagster sees it, and as `assetbook run` does over the `landed` days: an
    asset below a stale one is stale too (Dagster marks only the direct consumers of a new
    materialization, and only once it exists), and a gate's standing refusal says why the
    champion stays."""
    graph = GraphState(session.instance, session.defs)
    keys = [dg.AssetKey(name) for name in session.project.assets]
    freshness = graph.freshness(keys)
    order = AssetGraph(session.defs, list(session.project.assets))
    seen = blocked_apart(order, {key.to_user_string(): _asset_status(
        session, graph, key, freshness[key]) for key in keys})
    if landed is None:
        return tuple(status for status, _ in seen.values())
    plan, standing = run_plan(session, landed.known, state=graph)
    behind = {name for name, (s, _) in seen.items()
              if s.data != "fresh" or (s.partitions and (s.partitions.failed
                                                         or s.partitions.blocked))}
    planned = set(plan.assets)
    retried = _retried_only(plan, seen)
    statuses = []
    for name, (status, done) in seen.items():
        above = order.ordered(order.above(name) & planned & behind)
        if name in plan.waiting:
            status = replace(status, causes=(plan.waiting[name],))
        elif name in standing or (name in planned and not (
                status.data == "fresh" and status.partitions is None and above
                and set(above) <= retried)):
            again = {key for step in plan.days if name in step.assets for key in step.keys
                     if key in done}
            said = [a for a in above if a not in retried] or above
            status = _as_run_sees_it(status, standing.get(name), again, _cause(said))
        statuses.append(status)
    return tuple(statuses)


def _retried_only(plan: Plan, seen: dict[str, tuple[AssetStatus, set[str]]]) -> set[str]:
    """The partitioned assets that `run` plans only on days that failed, to try them again: a
    fresh asset below them alone runs only if they now succeed, so it is said as Dagster sees
    it (fresh), not as stale."""
    def failed(name: str) -> set[str]:
        partitions = seen[name][0].partitions
        return set(partitions.failed + partitions.blocked) if partitions else set()

    keys: dict[str, set[str]] = {}
    for step in plan.days:
        for name in step.assets:
            keys.setdefault(name, set()).update(step.keys)
    return {name for name, planned in keys.items() if planned <= failed(name)}


def blocked_apart(order: AssetGraph, seen: dict[str, tuple[AssetStatus, set[str]]]
                   ) -> dict[str, tuple[AssetStatus, set[str]]]:
    """Dagster marks every asset of a failed run failed, also those the failure stopped
    before they ran: a key that failed above an asset is said to be blocked there."""
    failed = {name: set(s.partitions.failed) for name, (s, _) in seen.items()
              if s.partitions and s.partitions.failed}
    above = {name: order.above(name) & failed.keys() for name in failed}
    own = {name: failed[name] - {k for a in above[name] for k in failed[a]} for name in failed}
    apart = {}
    for name, (status, done) in seen.items():
        if name in failed and (stopped := failed[name] - own[name]):
            by = order.ordered(a for a in above[name] if own[a] & stopped)
            partitions = replace(status.partitions, blocked_by=by, blocked=tuple(
                k for k in status.partitions.failed if k in stopped), failed=tuple(
                k for k in status.partitions.failed if k not in stopped))
            status = replace(status, partitions=partitions)
        apart[name] = (status, done)
    return apart


def _cause(above: Sequence[str]) -> str:
    if above:
        return f"below {', '.join(above)}, which `assetbook run` runs first"
    return "a landed file it reads was corrected since"


def _as_run_sees_it(status: AssetStatus, refused: str | None, again: set[str],
                    cause: str) -> AssetStatus:
    """`status` of an asset that `run` would materialize (or leave refused), as stale;
    `again`: its materialized partitions that `run` would materialize again."""
    if refused is not None:
        return replace(status, refused=refused)
    partitions = status.partitions
    if partitions is None:
        return status if status.data != "fresh" else replace(status, data="stale",
                                                              causes=(cause,))
    if partitions.failed or partitions.blocked:
        return status  # said as failed days
    if not again - set(partitions.stale):
        return status
    return replace(status, data="stale", causes=(*status.causes, cause), partitions=replace(
        partitions, stale=tuple(sorted(again | set(partitions.stale)))))


def _asset_status(session: Session, graph: GraphState, key: dg.AssetKey,
                  freshness: Freshness | None) -> tuple[AssetStatus, set[str]]:
    """As Dagster sees it, and the materialized partitions."""
    instance, name = session.instance, key.to_user_string()
    latest = instance.get_latest_materialization_event(key)
    last = datetime.fromtimestamp(latest.timestamp, UTC) if latest else None
    partitions_def = session.defs.resolve_asset_graph().get(key).partitions_def
    if partitions_def is None:
        return AssetStatus(name, last, None, graph.stale_state(key),
                           _distinct(graph.stale_causes(key)), freshness,
                           failed=graph.failed_last(key)), set()
    keys = partitions_def.get_partition_keys(dynamic_partitions_store=instance)
    by_key = instance.get_status_by_partition(key, keys, partitions_def) or {}
    done = [k for k in keys if by_key.get(k) == dg.AssetPartitionStatus.MATERIALIZED]
    stale = [k for k in done if graph.stale_state(key, k) == "stale"]
    partitions = Partitions(len(done), len(keys), tuple(
        k for k in keys if by_key.get(k) == dg.AssetPartitionStatus.FAILED), tuple(stale))
    data: StaleState = "stale" if stale else "fresh" if done else "missing"
    causes = _distinct(line for k in stale for line in graph.stale_causes(key, k))
    return AssetStatus(name, last, partitions, data, causes, freshness), set(done)


def _distinct(reasons: Iterable[str]) -> tuple[str, ...]:
    """Each reason once, in order: every stale partition repeats its asset's."""
    return tuple(dict.fromkeys(reasons))


def model_statuses(session: Session) -> tuple[ModelStatus, ...]:
    """The champion of each model a `train` asset registers."""
    ctx = BuildContext(session.project, session.state)
    registry = MlflowTracking.local(session.state.root, session.state.profile.mlflow)
    names = registered_names(ctx)
    return tuple(ModelStatus(name, registry.alias_version(name, CHAMPION)) for name in names)


def served_statuses(session: Session) -> tuple[ServedStatus, ...]:
    """What each deployment's record says is serving, since when, who promoted it, and if it
    still runs; in the order versions flow through them."""
    served = []
    for declared in deployments(session.project):
        target = deployer(session.state, session.project, declared.name)
        active = target.active()
        served.append(ServedStatus(
            declared.name, fed_by(session.project, declared.name), target.served_url,
            active.model_version if active else None, active.bento if active else None,
            active.started if active else None, active.approved_by if active else None,
            bool(active and alive(active.pid))))
    return tuple(served)


def to_json(status: ProjectStatus) -> str:
    return json.dumps(asdict(status), indent=2, default=lambda v: v.isoformat())


def render(status: ProjectStatus) -> str:
    """An aligned table of the assets, then one line per model and per deployment."""
    rows = [("asset", "last materialized", "partitions", "freshness", "data")]
    rows += [(a.name, _when(a.last_materialized), _partitions(a.partitions), a.freshness or "-",
              a.data + _why(a)) for a in status.assets]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)),
                        row[-1]]).rstrip() for row in rows]
    lines.append("")
    lines += [f"warning: {warning}" for warning in status.warnings]
    if status.new_days:
        them = "them" if len(status.new_days) > 1 else "it"
        lines.append(f"landed since the last run: {describe_keys(status.new_days)}: "
                     f"`assetbook run` takes {them}, as does the landing sensor under "
                     "`assetbook dev`")
    lines += [f"model {m.name}: champion " + (f"v{m.champion}" if m.champion else "none yet")
              for m in status.models]
    lines += [_served_line(s) for s in status.served]
    return "\n".join(lines)


def _why(asset: AssetStatus) -> str:
    """Stale because its gate refused the new candidate, or in Dagster's words; a stale or
    missing asset whose last run failed says so first (`run` runs it again). A fresh one's
    value is its code's and inputs' as they are now: what failed since is past."""
    if asset.refused:
        return f": {asset.refused}"
    failed = asset.failed and asset.data != "fresh"
    causes = (*(["its last run failed (`assetbook run` says why)"] if failed else []),
              *asset.causes)
    return f": {'; '.join(causes)}" if causes else ""


def _served_line(served: ServedStatus) -> str:
    name = served.asset + (f" (after {served.after})" if served.after else "")
    if not served.model_version:
        return f"{name}: nothing served"
    line = f"{name}: v{served.model_version} ({served.bento}) on {served.url}"
    if served.since:
        line += f", since {_when(datetime.fromisoformat(served.since))}"
    if served.approved_by:
        line += f", approved by {served.approved_by}"
    return line + ("" if served.running else ", not running: `assetbook serve`")


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "never"


def _partitions(partitions: Partitions | None) -> str:
    if partitions is None:
        return "-"
    text = f"{partitions.materialized}/{partitions.total}"
    if partitions.failed:
        text += f", {len(partitions.failed)} failed: {', '.join(partitions.failed)}"
    if partitions.blocked:
        text += (f", {len(partitions.blocked)} blocked by {', '.join(partitions.blocked_by)}: "
                 f"{', '.join(partitions.blocked)}")
    return text
