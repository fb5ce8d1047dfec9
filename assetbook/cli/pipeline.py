"""`assetbook run` and `assetbook materialize`: bring the graph up to date, or run what is named.

Both run in this process against the project's own Dagster instance, so every run shows up in
`assetbook dev` afterwards, exactly as if the sensors and automation had launched it. What
`run` materializes is what Dagster reports missing or stale (see `plan.py`).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import dagster as dg

from assetbook.cli.check_warnings import warned_checks
from assetbook.cli.plan import AssetGraph, Plan, Step, selection_plan, stale_plan
from assetbook.cli.progress import RunProgress
from assetbook.cli.scheduled import due_after_checks, schedules, waiting
from assetbook.cli.session import Session
from assetbook.cli.simulate import simulate
from assetbook.data.landing import landed_files, not_days
from assetbook.defaults import SIMULATED_DAYS
from assetbook.errors import AssetbookError
from assetbook.graph.internals import RANGE_END_TAG, RANGE_START_TAG, GraphState
from assetbook.graph.landed import corrected_days
from assetbook.graph.orphans import PID_TAG, fail_orphaned_runs
from assetbook.kinds.promote.asset import last_rollback
from assetbook.kinds.promote.refusal import GATE_CHECK, standing_refusal
from assetbook.kinds.source.landing import landing_spec
from assetbook.runners.kernels import DEFAULT_KERNEL, step_imports
from assetbook.runners.notebook import prepare_notebooks
from assetbook.runners.serving.environments import fed_by

SERVING_KINDS = ("package", "deploy")
STEP_TAG = "assetbook/step"
# What Dagster wraps around an error raised in a step, in its input loading or output handling.
_BOUNDARY_ERRORS = ("DagsterExecutionStepExecutionError", "DagsterExecutionLoadInputError",
                    "DagsterExecutionHandleOutputError")


@dataclass(frozen=True)
class PipelineRun:
    days: list[str]  # the known partitions: landed days, or the asset's own
    plan: Plan
    failed: dict[str, str]  # day -> why it failed (its checks, or the unreadable file)
    landed: bool = True  # the landing source's days; False: an asset's own (served days)
    not_days: tuple[str, ...] = ()  # files in the landing folder whose name is not a day
    ignored: str | None = None  # the simulator's options given to a source without one
    standing: dict[str, str] = field(default_factory=dict)  # gate -> an earlier run's refusal
    refused: Refusal | None = None  # this run's gate refusal: a verdict, not a fault
    warned: tuple[str, ...] = ()  # the WARN checks that failed in this command's runs
    stopped: bool = False  # every day it took up failed: nothing below them ran

    @property
    def computed(self) -> list[str]:
        """The days whose partitions were all materialized."""
        return [key for step in self.plan.days for key in step.keys if key not in self.failed]


def run_pipeline(session: Session, days: int | None = None, rows: int | None = None,
                 serve: bool = True, progress: RunProgress | None = None) -> PipelineRun:
    """With a simulator, land days up to `days` (default: SIMULATED_DAYS) of `rows` rows; then
    run what `run_plan` says."""
    since = datetime.now(UTC)
    keys, strays, ignored = _land(session, days, rows)
    plan, standing = run_plan(session, keys, serve)
    done = execute(session, plan, progress)
    return PipelineRun(keys, done.plan, done.failed, not_days=strays, ignored=ignored,
                       standing=standing, refused=done.refused, stopped=done.stopped,
                       warned=tuple(warned_checks(session.instance, since)))


def run_plan(session: Session, keys: Sequence[str], serve: bool = True,
             state: GraphState | None = None) -> tuple[Plan, dict[str, str]]:
    """What `run` materializes over the landed `keys`: what Dagster reports missing or stale,
    and everything below it. Without `serve`, the package and deploy assets are left out (a
    CI sample is judged, not served). A gate whose refusal still stands is left out too, when
    nothing above it runs: it would refuse the same candidate again. Returns the plan and
    those refusals."""
    state = state or GraphState(session.instance, session.defs)
    held = waiting(state, schedules(session))

    def runnable(name: str) -> bool:
        return name not in held and not _promoted(session, name) and (
            serve or _kind(session, name) not in SERVING_KINDS)

    plan = plan_stale(session, keys, runnable, state)
    if standing := standing_refusals(session, plan):
        plan = plan_stale(session, keys, lambda name: name not in standing and runnable(name),
                          state)
    below = AssetGraph(session.defs, list(session.project.assets)).below(plan.assets)
    return replace(plan, waiting={name: why for name, why in held.items() if name in below
                                  or state.stale_state(dg.AssetKey(name)) == "stale"}), standing


def standing_refusals(session: Session, plan: Plan) -> dict[str, str]:
    """The gates in `plan` whose last refusal stands, each with its reason: nothing above
    them is in the plan (new data or code there makes a new candidate to judge)."""
    graph = AssetGraph(session.defs, list(session.project.assets))
    planned = set(plan.assets)
    return {name: why for name in plan.assets if _kind(session, name) == "promote"
            and not graph.above(name) & planned
            and (why := standing_refusal(session.instance, session.defs, name,
                                         last_rollback(session.state.promotions)))}


def plan_stale(session: Session, keys: Sequence[str], allowed: Callable[[str], bool],
               state: GraphState | None = None) -> Plan:
    """What Dagster reports missing or stale over the landing source's `keys` (and the assets
    partitioned as it is), and the days whose landed file was corrected since it was read,
    with everything below them; `allowed` leaves assets out."""
    declared, folder = session.landing_source()
    graph = AssetGraph(session.defs, list(session.project.assets))
    partitioned = [name for name in graph.order if graph.same_partitions(name, declared.name)]
    files = landed_files(folder, landing_spec(declared).formats)
    corrected = corrected_days(session.instance, declared.name,
                               {key: files[key] for key in keys if key in files})
    return stale_plan(graph, state or GraphState(session.instance, session.defs), partitioned,
                      keys, allowed, {(declared.name, key) for key in corrected},
                      dagster_order(session, declared.name))


def dagster_order(session: Session, name: str) -> list[str]:
    """The partitions of `name` in Dagster's order, which a run over a range follows: for
    dynamic partitions, the order they were registered in, not the days' own."""
    partitions_def = session.defs.resolve_asset_graph().get(dg.AssetKey(name)).partitions_def
    return partitions_def.get_partition_keys(dynamic_partitions_store=session.instance) \
        if partitions_def else []


def materialize_selection(session: Session, names: Sequence[str], keys: Sequence[str] | None,
                          downstream: bool, progress: RunProgress | None = None
                          ) -> PipelineRun:
    """`names` over `keys` (default: every known partition), with everything below them if
    `downstream`, whether stale or not."""
    names = [asset for name in names for asset in _written(session, name)]
    unknown = [n for n in names if n not in session.project.assets]
    if unknown:
        raise AssetbookError(f"no asset named {', '.join(unknown)}; the project has: "
                             f"{', '.join(session.project.assets)}")
    known, landed = known_keys(session, names), not _own_partitionings(session, names)
    missing = [k for k in keys or () if k not in known]
    if missing:
        raise AssetbookError(f"no partition {', '.join(missing)}; known: "
                             f"{_span(known) or 'none (land data first)'}")
    graph = AssetGraph(session.defs, list(session.project.assets))
    if not known and (partitioned := [n for n in names if graph.partitioned(n)]):
        raise AssetbookError(f"no partition of {', '.join(partitioned)} is known yet: land "
                             "data first")
    plan = selection_plan(graph, names, list(keys) if keys else known, downstream,
                          lambda name: not _promoted(session, name), dagster_order(
                              session, next((n for n in names if graph.partitioned(n)),
                                            names[0])))
    since = datetime.now(UTC)
    done = execute(session, plan, progress)
    return PipelineRun(known, done.plan, done.failed, landed, refused=done.refused,
                       stopped=done.stopped, warned=tuple(warned_checks(session.instance, since)))


def _own_partitionings(session: Session, names: Sequence[str]) -> set[dg.PartitionsDefinition]:
    """How `names` are partitioned, when not all as the landing source (a `served` source's
    days, say); empty when they are."""
    graph = session.defs.resolve_asset_graph()
    own = {graph.get(dg.AssetKey(name)).partitions_def for name in names
           if name in session.project.assets} - {None}
    declared, _ = session.landing_source()
    return set() if own <= {graph.get(dg.AssetKey(declared.name)).partitions_def} else own


def known_keys(session: Session, names: Sequence[str] = ()) -> list[str]:
    """The partitions of the landing source: its landed days, registered with Dagster; for
    `names` partitioned otherwise (a `served` source's days, say), their own partitions."""
    own = _own_partitionings(session, names)
    if own:
        if len(own) > 1:
            raise AssetbookError(f"{', '.join(names)} are partitioned differently: "
                                 "materialize them one partitioning at a time")
        return own.pop().get_partition_keys(dynamic_partitions_store=session.instance)
    keys, partitions_def = _landed_days(session)
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        registered = set(session.instance.get_dynamic_partitions(partitions_def.name))
        session.instance.add_dynamic_partitions(partitions_def.name,
                                                [k for k in keys if k not in registered])
        if gone := registered - set(keys):
            _forget_unread(session, partitions_def.name, gone)
    return keys


def _forget_unread(session: Session, partitions: str, gone: set[str]) -> None:
    """A day whose file is gone and was never read (its runs failed) is no day any more: kept,
    it read '1 failed' in `status` for good. A day that was read stays, with what was
    computed from it."""
    declared, _ = session.landing_source()
    read = session.instance.get_materialized_partitions(dg.AssetKey(declared.name))
    for key in sorted(gone - read):
        session.instance.delete_dynamic_partition(partitions, key)


class LandedDays(NamedTuple):
    known: list[str]  # the landed days Dagster knows already
    new: list[str]  # and those the next run or landing tick registers


def registered_days(session: Session) -> LandedDays:
    """The landed days, known and new (`known_keys` for a reader: it registers nothing)."""
    keys, partitions_def = _landed_days(session)
    known = set(partitions_def.get_partition_keys(dynamic_partitions_store=session.instance)
                if partitions_def else ())
    dynamic = isinstance(partitions_def, dg.DynamicPartitionsDefinition)
    return LandedDays([k for k in keys if k in known],
                      [k for k in keys if dynamic and k not in known])


def _landed_days(session: Session) -> tuple[list[str], dg.PartitionsDefinition | None]:
    """The days in the landing source's folder, in order, and how the source is partitioned."""
    declared, folder = session.landing_source()
    graph = session.defs.resolve_asset_graph()
    return (sorted(landed_files(folder, landing_spec(declared).formats)),
            graph.get(dg.AssetKey(declared.name)).partitions_def)


def keys_between(session: Session, names: Sequence[str], first: str | None,
                 last: str | None) -> list[str]:
    return [k for k in known_keys(session, names) if (first is None or k >= first)
            and (last is None or k <= last)]


class Refusal(NamedTuple):
    reason: str  # the gate's asset, the candidate and each failing rule
    materialized: tuple[str, ...]  # what the run made before the gate stopped it


class GateRefusal(AssetbookError):
    """A run that went as planned until a gate refused its candidate, which stops what lies
    below it (the champion stays, and so does what is served)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


class Executed(NamedTuple):
    failed: dict[str, str]  # day -> why it failed
    refused: Refusal | None  # the models' run, stopped by a gate
    plan: Plan  # as run: with the scheduled assets that the days' checks made due
    stopped: bool = False  # every day it took up failed: nothing below them ran


def stopped_reason(failed: dict[str, str]) -> str:
    """Why a run whose every day failed ran nothing below them."""
    days = "the one day" if len(failed) == 1 else f"all {len(failed)} days"
    return f"{days} this run took up failed, and nothing below ran:\n" + by_reason(failed)


def execute(session: Session, plan: Plan, progress: RunProgress | None = None) -> Executed:
    """Run the plan's steps in order; one bad day cannot hold back the good ones (each step
    over a range runs again day by day if it fails)."""
    failed: dict[str, str] = {}
    for step in plan.days:
        failed.update(_run_days(session, step, progress))
    ran = [key for step in plan.days for key in step.keys]
    if ran and all(key in failed for key in ran):
        return Executed(failed, None, replace(plan, models=None), stopped=True)
    if plan.days and plan.waiting and plan.models is not None:  # a day's check may call them
        graph = AssetGraph(session.defs, list(session.project.assets))
        waits = {n: s for n, s in schedules(session).items() if n in plan.waiting}
        plan = plan.with_models(due_after_checks(GraphState(session.instance, session.defs),
                                                 waits), graph)
    if plan.models is not None:
        try:
            materialize_assets(session, list(plan.models.assets), {}, progress=progress)
        except GateRefusal as refused:
            return Executed(failed, refused.refusal, plan)
    return Executed(failed, None, plan)


def by_reason(failed: dict[str, str]) -> str:
    """The failed days under each reason, said once: a bad spec fails every day the same way
    (each day's copy of it made a screen of one message)."""
    days: dict[str, list[str]] = {}
    for key, message in failed.items():
        days.setdefault(message, []).append(key)
    return "\n".join(f"{', '.join(keys)}: {message}" if len(keys) <= 3 else
                     f"{len(keys)} days, {keys[0]} .. {keys[-1]}: {message}"
                     for message, keys in days.items())


def materialize_assets(session: Session, selection: list[str], tags: dict[str, str],
                       partition_key: str | None = None, progress: RunProgress | None = None,
                       label: str = "", again: bool = False) -> None:
    """One in-process run of `selection`; `again`: a run of the same assets follows it (its
    notebooks' kernel starts during this one's)."""
    fail_orphaned_runs(session.instance)
    if (modules := step_imports(session.project, selection)) is not None:
        # starts while Dagster sets up
        prepare_notebooks(DEFAULT_KERNEL, session.root, modules, again=again)
    step_tag = (STEP_TAG, uuid.uuid4().hex)
    with progress.watching(session.instance, step_tag, label) if progress else nullcontext():
        result = dg.materialize(
            list(session.defs.assets or []),
            selection=selection,
            partition_key=partition_key,
            instance=session.instance,
            resources=session.defs.resources,
            tags={**tags, "assetbook/launched_by": "run", PID_TAG: str(os.getpid()),
                  step_tag[0]: step_tag[1]},
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    _raise_for_failures(session, result, selection)


def _raise_for_failures(session: Session, result: dg.ExecuteInProcessResult,
                        selection: list[str]) -> None:
    """The run's failures and withheld outputs, said as the user's code and checks said them;
    a gate's refusal alone raises `GateRefusal`."""
    failed_checks = [c for c in result.get_asset_check_evaluations() if not c.passed]
    withheld = [_said(c) for c in failed_checks if c.severity == dg.AssetCheckSeverity.ERROR]
    if result.success and withheld:  # an output of several withheld: its consumers skipped
        raise AssetbookError("the pipeline run withheld what failed its checks:\n"
                             + "\n".join(withheld))
    if not result.success:
        failures = [f"{e.step_key}: " + (_reason(e.step_failure_data.error)
                                         if e.step_failure_data and e.step_failure_data.error
                                         else e.message or "")
                    for e in result.all_events if e.is_step_failure and not _by_check(e)]
        if not failures and failed_checks and all(_is_gate(session, c) for c in failed_checks):
            made = {e.asset_key.to_user_string()
                    for e in result.get_asset_materialization_events() if e.asset_key}
            raise GateRefusal(Refusal(
                "\n".join(f"{c.asset_key.to_user_string()}: {c.description}"
                          for c in failed_checks),
                tuple(name for name in selection if name in made)))
        raise AssetbookError("the pipeline run failed:\n" + "\n".join(
            failures + [_said(c) for c in failed_checks]))


def _said(check: dg.AssetCheckEvaluation) -> str:
    return f"check {check.asset_key.to_user_string()}/{check.check_name} failed: " \
           f"{check.description}"


def _is_gate(session: Session, check: dg.AssetCheckEvaluation) -> bool:
    name = check.asset_key.to_user_string()
    return (check.check_name == GATE_CHECK and name in session.project.assets
            and _kind(session, name) == "promote")


def _by_check(event: dg.DagsterEvent) -> bool:
    """A step failed by its own blocking check, which the check's line below says."""
    error = event.step_failure_data.error if event.step_failure_data else None
    return error is not None and error.cls_name == "DagsterAssetCheckFailedError"


def _reason(error: Any) -> str:  # Dagster's SerializableErrorInfo, not exported
    """The user code's own error (or the store's), not Dagster's "Error occurred while executing
    op" or "... while loading input" around it."""
    while error.cause is not None and error.cls_name in _BOUNDARY_ERRORS:
        error = error.cause
    message = error.message.strip()
    # Assetbook's own errors are written for people: said without their class's module path
    own = re.match(rf"assetbook(\.\w+)*\.{re.escape(error.cls_name)}: ", message)
    return message[own.end():] if own else message


def _land(session: Session, days: int | None, rows: int | None
          ) -> tuple[list[str], tuple[str, ...], str | None]:
    """Simulated days up to `days` if the source has a simulator; the landed keys, the files
    of the landing folder that are no day, and the simulator's options given in vain."""
    declared, folder = session.landing_source()
    landing = landing_spec(declared)
    have = len(landed_files(folder, landing.formats))
    wanted = SIMULATED_DAYS if days is None else days
    if landing.simulator is not None and have < wanted:
        simulate(session, wanted - have, declared.name, rows)
    keys = known_keys(session)
    if not keys:
        raise AssetbookError(f"no data: drop daily files named <day>.csv or <day>.parquet "
                             f"into {folder}")
    given = [flag for flag, value in (("--days", days), ("--rows", rows)) if value is not None]
    ignored = (f"{' and '.join(given)} ignored: {'they size' if len(given) > 1 else 'it sizes'} "
               f"simulated days, and {declared.name} has no simulator; its days are the files "
               f"in {folder}" if given and landing.simulator is None else None)
    return keys, tuple(str(path) for path in not_days(folder, landing.formats)), ignored


def _run_days(session: Session, step: Step, progress: RunProgress | None) -> dict[str, str]:
    """The step over its range in one run (one kernel); if that fails, each day on its own."""
    assets = list(step.assets)
    try:
        if len(step.keys) == 1:
            materialize_assets(session, assets, {}, partition_key=step.keys[0],
                               progress=progress, label=step.label)
        else:
            materialize_assets(session, assets, {RANGE_START_TAG: step.keys[0],
                                                 RANGE_END_TAG: step.keys[-1]},
                               progress=progress, label=step.label)
        return {}
    except AssetbookError as exc:
        if len(step.keys) == 1:
            return {step.keys[0]: str(exc)}
    if progress is not None:
        progress.note(f"  a day of {step.label} failed: each day again on its own, so the "
                      "good ones go on")
    failed = {}
    for key in step.keys:
        try:
            materialize_assets(session, assets, {}, partition_key=key, progress=progress,
                               label=key, again=key != step.keys[-1])
        except AssetbookError as exc:
            failed[key] = str(exc)
    return failed


def _written(session: Session, name: str) -> list[str]:
    """The assets a name stands for: a notebook writing several assets stands for all."""
    project = session.project
    if name in project.assets or name not in project.steps:
        return [name]
    return [asset.name for asset in project.written_by(name)]


def _promoted(session: Session, name: str) -> bool:
    """A later deployment (production after staging): only a promotion materializes it."""
    return _kind(session, name) == "deploy" and fed_by(session.project, name) is not None


def _kind(session: Session, name: str) -> str:
    return session.project.assets[name].spec.kind


def _span(keys: Sequence[str]) -> str:
    return f"{keys[0]} .. {keys[-1]}" if keys else ""
