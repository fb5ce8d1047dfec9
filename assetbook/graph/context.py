"""What every asset builder shares: the project, the state folder, partition definitions, and
the parts of `@asset` that come from any spec (inputs, code version, automation, checks)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg

from assetbook.errors import SpecError
from assetbook.graph.automation import build_automation_condition, build_freshness_policy
from assetbook.graph.code_version import code_version
from assetbook.graph.landing_chain import landing_chain
from assetbook.graph.partitions import build_partition_mapping, build_partitions_def, window_keys
from assetbook.graph.references import reference_problems
from assetbook.kinds.source.landing import is_landing_source
from assetbook.resources.artifacts import ArtifactIOManager
from assetbook.resources.state import UNPARTITIONED, StateFolder, safe_part
from assetbook.resources.store import read_frame
from assetbook.runners.kernels import DEFAULT_KERNEL, step_imports
from assetbook.runners.notebook import prepare_notebooks
from assetbook.spec.loader import DeclaredAsset, ProjectSpec
from assetbook.spec.models import AllInputSpec, SameInputSpec
from assetbook.spec.module_source import ModuleSourceError

IO_MANAGER_KEY = "artifacts"
PER_PARTITION = dg.BackfillPolicy.multi_run(1)  # one bad day must not fail its neighbours


@dataclass(frozen=True)
class BuildContext:
    project: ProjectSpec
    state: StateFolder
    # every asset's, as the definitions are built: a run's own graph has none for an asset it
    # only reads, and leaves out those further up
    code_versions: dict[str, str] = field(default_factory=dict, compare=False)

    @cached_property
    def partitions_defs(self) -> dict[str, dg.PartitionsDefinition]:
        return {name: build_partitions_def(name, spec)
                for name, spec in self.project.partitions.items()}

    @cached_property
    def landing_chains(self) -> dict[str, list[str]]:
        """Each landing source, and what its sensor's run takes a landed file through."""
        return {name: landing_chain(self.project, name)
                for name, declared in self.project.assets.items()
                if is_landing_source(declared.spec)}

    def in_landing_run(self, asset: str) -> bool:
        """Below a landing source, in the run its sensor requests for a landed file."""
        return any(asset in chain[1:] for chain in self.landing_chains.values())

    def partitions_def(self, asset: str) -> dg.PartitionsDefinition | None:
        """The partitions of an asset, or of a step (a notebook writing several assets)."""
        name = self.project.named(asset).spec.partitions
        return self.partitions_defs[name] if name else None

    def kernel_after(self, step: str, context: dg.AssetExecutionContext) -> list[str] | None:
        """The modules the notebooks below `step` in this run import (their kernel can start
        while `step` runs, runners/kernels.py); None if no notebook follows."""
        keys = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
        selected = {key.to_user_string() for key in keys}
        below = self.project.below(asset.name for asset in self.project.written_by(step))
        return step_imports(self.project, below & selected, step)

    def start_kernel_below(self, step: str, context: dg.AssetExecutionContext) -> None:
        """For a step that runs no notebook itself: start the kernel of one below it."""
        if (modules := self.kernel_after(step, context)) is not None:
            prepare_notebooks(DEFAULT_KERNEL, self.project.root, modules)

    def asset_kwargs(
        self, declared: DeclaredAsset, notebook: Path | None, modules: Iterable[str]
    ) -> dict[str, Any]:
        """Keyword arguments of `@dg.asset` that every kind of asset derives the same way."""
        return {
            "name": declared.name,
            **self._asset_fields(declared, self.code_version(declared, notebook, modules)),
            "ins": self.ins(declared),
            "deps": self._other_deps(declared),
            "check_specs": self.check_specs(declared),
            "output_required": not declared.spec.checks,  # a failed check withholds the output
            "io_manager_key": IO_MANAGER_KEY,
        }

    def asset_spec(self, declared: DeclaredAsset, version: str, kinds: set[str]) -> dg.AssetSpec:
        """One asset of a `@dg.multi_asset`, derived as `asset_kwargs` derives a single one;
        its inputs are the step's `ins`, as dependencies."""
        ins = [dg.AssetDep(name, partition_mapping=asset_in.partition_mapping)
               for name, asset_in in self.ins(declared).items()]
        return dg.AssetSpec(
            declared.name, **self._asset_fields(declared, version),
            deps=[*ins, *self._other_deps(declared)], kinds=kinds,
        ).with_io_manager_key(IO_MANAGER_KEY)

    def code_version(self, declared: DeclaredAsset, notebook: Path | None,
                     modules: Iterable[str]) -> str:
        """From the spec's fields, the notebook's code cells, and the modules the builder, the
        spec and its checks name; a name the spec imports from them must be there (see
        graph/references.py)."""
        spec = declared.spec
        modules = [*modules, *spec.modules, *(c.schema_.split(":")[0] for c in spec.checks)]
        file = str(declared.file.relative_to(self.project.root))
        asset = declared.producer or declared.name
        try:
            version = code_version(spec.model_dump(mode="json", by_alias=True), notebook, modules)
        except ModuleSourceError as exc:
            raise SpecError(file, f"{exc}; check the module paths it names", asset=asset) from exc
        if problem := next(reference_problems(spec), None):
            raise SpecError(file, problem[1], asset=asset, field=problem[0])
        return version

    def ins(self, declared: DeclaredAsset) -> dict[str, dg.AssetIn]:
        """The inputs a step is handed, with Dagster's mapping of their partitions."""
        partitioned = self.partitions_def(declared.name) is not None
        return {upstream: dg.AssetIn(upstream, partition_mapping=build_partition_mapping(
                    mapping, partitioned, self.partitions_def(upstream)))
                for upstream, mapping in declared.spec.inputs.items()}

    def check_specs(self, declared: DeclaredAsset) -> list[dg.AssetCheckSpec]:
        """The asset's checks. Dagster fails a whole step on a failed blocking check, which
        would stop the consumers of every output of a multi-asset; there a failed check
        withholds its own output only (see `emit`), which stops that output's consumers."""
        return [dg.AssetCheckSpec(check.check_name, asset=declared.name,
                                  blocking=check.blocking and declared.producer is None,
                                  description=f"pandera schema {check.schema_}")
                for check in declared.spec.checks]

    def _other_deps(self, declared: DeclaredAsset) -> list[dg.AssetDep]:
        """Dependencies that are not inputs: assets whose failed checks trigger it."""
        partitioned = self.partitions_def(declared.name) is not None
        spec = declared.spec
        return [dg.AssetDep(name, partition_mapping=build_partition_mapping(
                    AllInputSpec(mapping="all"), partitioned, self.partitions_def(name)))
                for name in spec.dependencies if name not in spec.inputs]

    def _asset_fields(self, declared: DeclaredAsset, version: str) -> dict[str, Any]:
        """What `@dg.asset` and `dg.AssetSpec` take alike."""
        spec = declared.spec
        partitions_def = self.partitions_def(declared.name)
        self.code_versions[declared.name] = version
        return {
            "description": spec.description,
            "group_name": spec.group or declared.pipeline,
            "partitions_def": partitions_def,
            "code_version": version,
            "automation_condition": build_automation_condition(
                spec.automation, fed_by_sensor=is_landing_source(spec),
                in_landing_run=self.in_landing_run(declared.name),
                refresh_when_stale=spec.freshness is not None and partitions_def is None,
                gaps_allowed_in=tuple(d for d in spec.dependencies if partitions_def is None
                                      and self.partitions_def(d) is not None),
                updated_by=tuple(n for n in spec.inputs if spec.kind == "evaluate"
                                 and self.project.assets[n].spec.kind == "train"),
                any_day_inputs=tuple(spec.inputs) if spec.kind == "live" else (),
            ),
            "freshness_policy": build_freshness_policy(spec.freshness),
            "metadata": {"spec_file": str(declared.file.relative_to(self.project.root))},
        }

    def staging_path(self, asset: str, run_id: str, partition: str, suffix: str) -> Path:
        """Where a step writes a product before the IO manager renames it into place."""
        folder = self.state.root / "staging" / safe_part(asset)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{safe_part(run_id[:8])}-{safe_part(partition)}{suffix}"

    def inputs_by_partition(
        self,
        declared: DeclaredAsset,
        keys: list[str],
        loaded: Mapping[str, Mapping[str, Path]],
        instance: dg.DagsterInstance,
    ) -> dict[str, dict[str, list[Path]]]:
        """For each partition being computed, the upstream files it reads, per input."""
        result: dict[str, dict[str, list[Path]]] = {key: {} for key in keys}
        for upstream, mapping in declared.spec.inputs.items():
            paths = loaded[upstream]
            for key in keys:
                if isinstance(mapping, SameInputSpec):
                    chosen = [key] if key in paths else []
                elif isinstance(mapping, AllInputSpec) or self.partitions_def(upstream) is None:
                    chosen = list(paths)
                else:
                    ordered = self._ordered_keys(upstream, paths, instance)
                    current = None if key == UNPARTITIONED else key
                    chosen = [k for k in window_keys(ordered, current, mapping.size, mapping.lag)
                              if k in paths]
                    if mapping.after_drift:
                        chosen = since_drift_onset(chosen, self._drift_flags(mapping.after_drift))
                result[key][upstream] = [paths[k] for k in chosen]
        return result

    def _drift_flags(self, drift_asset: str) -> dict[str, bool]:
        """Per stored partition of a drift asset: whether any column drifted."""
        stored = ArtifactIOManager(root=str(self.state.artifacts)).stored(dg.AssetKey(drift_asset))
        return {key: bool(read_frame(path, columns=["drifted"])["drifted"].any())
                for key, path in stored.items()}

    def _ordered_keys(
        self, upstream: str, paths: Mapping[str, Path], instance: dg.DagsterInstance
    ) -> list[str]:
        """Upstream keys in partition order; only materialized keys count for dynamic ones."""
        partitions_def = self.partitions_def(upstream)
        if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
            return sorted(paths)
        assert partitions_def is not None
        return list(partitions_def.get_partition_keys(dynamic_partitions_store=instance))


def since_drift_onset(window: list[str], flags: dict[str, bool]) -> list[str]:
    """The window's keys from the first day of the latest run of drifted days on; the whole
    window when there was no drift or when no day of the window is that recent."""
    days = sorted(flags)
    flagged = [i for i, key in enumerate(days) if flags[key]]
    if not flagged:
        return window
    onset = flagged[-1]
    while onset > 0 and flags[days[onset - 1]]:
        onset -= 1
    recent = [key for key in window if key >= days[onset]]
    return recent or window


def input_of_kind(ctx: BuildContext, declared: DeclaredAsset, kind: str) -> str:
    """The input of `declared` whose asset is of `kind` (the loader checked there is one)."""
    return next(n for n in declared.spec.inputs if ctx.project.assets[n].spec.kind == kind)


def partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    return list(context.partition_keys) if context.has_partition_key_range or (
        context.has_partition_key) else [UNPARTITIONED]
