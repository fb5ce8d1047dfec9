"""What `assetbook run` and `assetbook materialize` run, as Dagster itself judges it.

An asset partition needs a run when Dagster reports it missing or stale (a new code version
of its notebook, spec or modules, or a new upstream data version), or when the landed file it
was read from has been corrected since (see `graph/landed.py`); everything below it
follows, because Dagster marks a downstream asset stale only once its upstream has been
re-materialized. Nothing else is decided here: no rule of Assetbook's own about what to run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from graphlib import TopologicalSorter

import dagster as dg

from assetbook.graph.internals import GraphState


@dataclass(frozen=True)
class Step:
    """Assets materialized together in one Dagster run: over `keys` (consecutive partition
    keys, run as one range) or, with no keys, unpartitioned."""

    assets: tuple[str, ...]
    keys: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if not self.keys:
            return ""
        return self.keys[0] if len(self.keys) == 1 else f"{self.keys[0]}..{self.keys[-1]}"


@dataclass(frozen=True)
class Plan:
    days: tuple[Step, ...]    # partitioned steps, first
    models: Step | None       # then the unpartitioned assets, in one run
    waiting: dict[str, str] = field(default_factory=dict)  # left for their schedule: why
    called: dict[str, str] = field(default_factory=dict)  # scheduled, yet due now: why

    def with_models(self, called: dict[str, str], graph: AssetGraph) -> Plan:
        """The plan with the `called` assets run in its models' step too, in the graph's
        order."""
        models = graph.ordered({*called, *(self.models.assets if self.models else ())})
        return replace(self, models=Step(models) if models else None, called=called,
                       waiting={n: w for n, w in self.waiting.items() if n not in models})

    @property
    def empty(self) -> bool:
        return not self.days and self.models is None

    @property
    def assets(self) -> tuple[str, ...]:
        """Every asset the plan runs, once, in the order it runs them."""
        steps = (*self.days, *([self.models] if self.models else []))
        return tuple(dict.fromkeys(name for step in steps for name in step.assets))

    @property
    def day_assets(self) -> tuple[str, ...]:
        """The partitioned assets of every step, once each, upstream first (a day that only
        re-runs from its check on may come before a new day that starts from its source)."""
        before: dict[str, set[str]] = {}
        for step in self.days:  # each step's assets are in the graph's order
            for index, name in enumerate(step.assets):
                before.setdefault(name, set()).update(step.assets[:index])
        return tuple(TopologicalSorter(before).static_order())


class AssetGraph:
    """The project's assets as Dagster resolves them: order, partitions, what lies below."""

    def __init__(self, defs: dg.Definitions, order: Sequence[str]) -> None:
        self._graph = defs.resolve_asset_graph()
        self.order = tuple(order)

    def partitioned(self, name: str) -> bool:
        return self._graph.get(dg.AssetKey(name)).is_partitioned

    def same_partitions(self, name: str, other: str) -> bool:
        partitions = self._graph.get(dg.AssetKey(name)).partitions_def
        return partitions is not None and partitions == self._graph.get(
            dg.AssetKey(other)).partitions_def

    def below(self, names: Iterable[str]) -> set[str]:
        """`names` and everything downstream of them."""
        names = list(names)
        if not names:
            return set()
        keys = dg.AssetSelection.assets(*names).downstream().resolve(self._graph)
        return {key.to_user_string() for key in keys}

    def above(self, name: str) -> set[str]:
        """Everything upstream of `name`, without it."""
        keys = dg.AssetSelection.assets(name).upstream().resolve(self._graph)
        return {key.to_user_string() for key in keys} - {name}

    def ordered(self, names: Iterable[str]) -> tuple[str, ...]:
        wanted = set(names)
        return tuple(n for n in self.order if n in wanted)


def stale_plan(graph: AssetGraph, state: GraphState, partitioned: Sequence[str],
               keys: Sequence[str], allowed: Callable[[str], bool] = lambda _: True,
               corrected: Collection[tuple[str, str]] = (),
               order: Sequence[str] | None = None) -> Plan:
    """Every partition of `partitioned` (over `keys`) and every unpartitioned asset that
    Dagster reports missing or stale, the partitions whose latest run failed (a day that had
    succeeded before is neither, yet it is shown failed until it runs again), and the
    `corrected` (asset, key) partitions whose source changed, with everything below them;
    `allowed` leaves assets out (and so what is below them only through them). `order`:
    Dagster's order of the partitions, where it is not that of `keys` (see `contiguous`)."""
    failed = {(name, key) for name in partitioned
              for key in state.failed(dg.AssetKey(name), keys)}

    def needs_run(name: str, key: str | None = None) -> bool:
        return allowed(name) and ((name, key) in corrected or (name, key) in failed
                                  or state.stale_state(dg.AssetKey(name), key) != "fresh")

    per_key = [frozenset(a for a in graph.below(a for a in partitioned if needs_run(a, key))
                         if a in partitioned and allowed(a)) for key in keys]
    days = [Step(step.assets, cut) for step in _consecutive(graph, keys, per_key)
            for cut in contiguous(step.keys, order or keys)]
    unpartitioned = [n for n in graph.order if not graph.partitioned(n)]
    roots = {n for n in unpartitioned if needs_run(n)} | {a for step in days
                                                          for a in step.assets}
    models = graph.ordered(n for n in graph.below(roots) if n in unpartitioned and allowed(n))
    return Plan(tuple(days), Step(models) if models else None)


def selection_plan(graph: AssetGraph, names: Sequence[str], keys: Sequence[str],
                   downstream: bool, allowed: Callable[[str], bool] = lambda _: True,
                   order: Sequence[str] | None = None) -> Plan:
    """`names` (and, with `downstream`, everything below them) over `keys`, whatever their
    state: the one-off run a user asks for by name. `order`: as for `stale_plan`."""
    chosen = graph.below(names) if downstream else set(names)
    chosen = {n for n in chosen if n in names or allowed(n)}
    partitioned = graph.ordered(n for n in chosen if graph.partitioned(n))
    unpartitioned = graph.ordered(n for n in chosen if not graph.partitioned(n))
    days = tuple(Step(partitioned, cut) for cut in contiguous(keys, order or keys)) \
        if partitioned and keys else ()
    return Plan(days, Step(unpartitioned) if unpartitioned else None)


def contiguous(keys: Sequence[str], order: Sequence[str]) -> list[tuple[str, ...]]:
    """`keys`, cut where Dagster's `order` of the partitions does not hold them side by side,
    in the same direction: a run over a range takes every partition between its first and
    last key in that order, and a day registered after later ones (landed late, or again
    after it was forgotten) sits after them there. A range over it would leave it out."""
    position = {key: index for index, key in enumerate(order)}
    cuts: list[tuple[str, ...]] = []
    for key in keys:
        last = cuts[-1][-1] if cuts else None
        if last is not None and key in position and last in position \
                and position[key] == position[last] + 1:
            cuts[-1] = (*cuts[-1], key)
        else:
            cuts.append((key,))
    return cuts


def _consecutive(graph: AssetGraph, keys: Sequence[str],
                 selections: Sequence[frozenset[str]]) -> list[Step]:
    """Runs of consecutive keys that need the same assets, each one step (one kernel)."""
    steps: list[Step] = []
    last = -2  # index of the key that ended the previous step
    for index, (key, selection) in enumerate(zip(keys, selections, strict=True)):
        if not selection:
            continue
        if steps and last == index - 1 and set(steps[-1].assets) == selection:
            steps[-1] = Step(steps[-1].assets, (*steps[-1].keys, key))
        else:
            steps.append(Step(graph.ordered(selection), (key,)))
        last = index
    return steps
