"""Builder of notebook assets: papermill runs the notebook with injected parameters.

The notebook receives `partitions`, a list with one entry per partition being computed:
`{"key": ..., "inputs": {input_name: [parquet paths]}, "output": path}`, and `config`, the
spec's `config`. It writes each partition's frame to its `output` path. A notebook with
`outputs` gets `"outputs": {output_name: path}` instead of `output`, writes one frame to each
path, and is one `@multi_asset`: each output is stored, checked and withheld on its own, and a
run of some outputs stores only those (the notebook still writes them all). A range of
partitions (a backfill) runs in one kernel unless the spec says `backfill: per_partition`.
"""


from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.errors import NotebookError
from assetbook.graph.context import BuildContext, partition_keys
from assetbook.graph.outputs import emit
from assetbook.kinds.notebook import NotebookAssetSpec
from assetbook.runners.notebook import NotebookRunner
from assetbook.spec.loader import DeclaredAsset

KINDS = {"jupyter"}


def notebook_parameters(ctx: BuildContext, declared: DeclaredAsset,
                        inputs: Mapping[str, Mapping[str, Path]], instance: dg.DagsterInstance,
                        outputs: Mapping[str, Mapping[str, Path]]) -> dict[str, Any]:
    """What the notebook step `declared` is given to compute the partitions of `outputs`
    (key -> asset -> where it writes), from the upstream files the IO manager handed over;
    `assetbook notebook` injects the same for a partition the user opens."""
    spec = declared.spec
    assert isinstance(spec, NotebookAssetSpec)
    by_partition = ctx.inputs_by_partition(declared, list(outputs), inputs, instance)
    return {
        "partitions": [
            {"key": key,
             "inputs": {name: [str(p) for p in paths] for name, paths in files.items()},
             **_written(spec, outputs[key])}
            for key, files in by_partition.items()
        ],
        "config": spec.config,
    }


def _written(spec: NotebookAssetSpec, paths: Mapping[str, Path]) -> dict[str, Any]:
    """Where one partition goes: `output`, or with `outputs` a path per output."""
    if spec.outputs:
        return {"outputs": {name: str(path) for name, path in paths.items()}}
    (path,) = paths.values()
    return {"output": str(path)}


def build_notebook_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, NotebookAssetSpec)
    notebook = ctx.project.root / spec.notebook
    runner = NotebookRunner(timeout_s=spec.timeout.total_seconds())
    backfill = (dg.BackfillPolicy.single_run() if spec.backfill == "single_run"
                else dg.BackfillPolicy.multi_run(1))
    written = ctx.project.written_by(declared.name)
    subject = (f"notebook '{declared.name}' (assets {', '.join(a.name for a in written)})"
               if spec.outputs else f"asset '{declared.name}'")

    def run(context: AssetExecutionContext, inputs: Mapping[str, Mapping[str, Path]],
            selected: set[str]) -> Iterator[dg.Output | dg.AssetCheckResult]:
        keys = partition_keys(context)
        outputs = {key: {asset.name: ctx.staging_path(asset.name, context.run.run_id, key,
                                                      ".parquet") for asset in written}
                   for key in keys}
        parameters = notebook_parameters(ctx, declared, inputs, context.instance, outputs)
        label = keys[0] if len(keys) == 1 else f"{keys[0]}__{keys[-1]}"
        what = f"{subject} ({', '.join(keys) if len(keys) < 4 else label})"
        result = runner.run(notebook, parameters,
                            ctx.state.report_path(declared.name, label, ".ipynb"),
                            ctx.project.root, what, ctx.kernel_after(declared.name, context))
        missing = [str(path) for paths in outputs.values() for path in paths.values()
                   if not path.exists()]
        if missing:
            how = ("outputs to {}; write each output's frame to its path in `outputs`"
                   if spec.outputs else "output to {}; write each partition's frame to its "
                   "`output` path")
            raise NotebookError(f"{what}: notebook {notebook.name} ran but did not write its "
                                f"{how.format(', '.join(missing))}. Executed notebook: "
                                f"{result.executed}")
        metadata = {"notebook": dg.MetadataValue.notebook(str(result.executed)),
                    "report": dg.MetadataValue.path(str(result.html)),
                    "notebook_seconds": round(result.seconds, 2)}
        for asset in written:
            staged = {key: paths[asset.name] for key, paths in outputs.items()}
            if asset.name in selected:
                yield from emit(ctx, context, asset, staged, metadata)
            else:  # not asked for in this run: its stored partitions stay as they were
                for path in staged.values():
                    path.unlink()

    if not spec.outputs:
        @dg.asset(**ctx.asset_kwargs(declared, notebook, []), backfill_policy=backfill,
                  kinds=KINDS)
        def compute(context: AssetExecutionContext, **inputs: dict[str, Path]):
            yield from run(context, inputs, {declared.name})

        return compute

    # One code version for every output: they come from the same code cells and spec.
    version = ctx.code_version(declared, notebook, [c.schema_.split(":")[0]
                                                    for asset in written
                                                    for c in asset.spec.checks])

    @dg.multi_asset(name=declared.name, description=spec.description,
                    specs=[ctx.asset_spec(asset, version, KINDS) for asset in written],
                    check_specs=[c for asset in written for c in ctx.check_specs(asset)],
                    ins=ctx.ins(declared), partitions_def=ctx.partitions_def(declared.name),
                    backfill_policy=backfill, can_subset=True)
    def compute_outputs(context: AssetExecutionContext, **inputs: dict[str, Path]):
        yield from run(context, inputs,
                       {key.to_user_string() for key in context.selected_asset_keys})

    return compute_outputs
