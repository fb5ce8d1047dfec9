"""Builder of notebook assets: papermill runs the notebook with injected parameters.

The notebook receives `partitions`, a list with one entry per partition being computed:
`{"key": ..., "inputs": {input_name: [parquet paths]}, "output": path}`, and `config`, the
spec's `config`. It writes each partition's frame to its `output` path. A range of
partitions (a backfill) runs in one kernel unless the spec says `backfill: per_partition`.
"""


from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from assetbook.errors import NotebookError
from assetbook.graph.context import BuildContext, emit, partition_keys
from assetbook.kinds.notebook import NotebookAssetSpec
from assetbook.runners.notebook import NotebookRunner
from assetbook.spec.loader import DeclaredAsset


def notebook_parameters(ctx: BuildContext, declared: DeclaredAsset,
                        inputs: Mapping[str, Mapping[str, Path]], instance: dg.DagsterInstance,
                        outputs: Mapping[str, Path]) -> dict[str, Any]:
    """What the notebook is given to compute the partitions of `outputs` (key -> where it
    writes), from the upstream files the IO manager handed over; `assetbook notebook` injects
    the same for a partition the user opens."""
    spec = declared.spec
    assert isinstance(spec, NotebookAssetSpec)
    by_partition = ctx.inputs_by_partition(declared, list(outputs), inputs, instance)
    return {
        "partitions": [
            {"key": key,
             "inputs": {name: [str(p) for p in paths] for name, paths in files.items()},
             "output": str(outputs[key])}
            for key, files in by_partition.items()
        ],
        "config": spec.config,
    }


def build_notebook_asset(ctx: BuildContext, declared: DeclaredAsset) -> dg.AssetsDefinition:
    spec = declared.spec
    assert isinstance(spec, NotebookAssetSpec)
    notebook = ctx.project.root / spec.notebook
    runner = NotebookRunner(timeout_s=spec.timeout.total_seconds())
    backfill = (dg.BackfillPolicy.single_run() if spec.backfill == "single_run"
                else dg.BackfillPolicy.multi_run(1))

    @dg.asset(**ctx.asset_kwargs(declared, notebook, []), backfill_policy=backfill,
              kinds={"jupyter"})
    def compute(context: AssetExecutionContext, **inputs: dict[str, Path]):
        keys = partition_keys(context)
        outputs = {key: ctx.staging_path(declared.name, context.run.run_id, key, ".parquet")
                   for key in keys}
        parameters = notebook_parameters(ctx, declared, inputs, context.instance, outputs)
        label = keys[0] if len(keys) == 1 else f"{keys[0]}__{keys[-1]}"
        what = f"asset '{declared.name}' ({', '.join(keys) if len(keys) < 4 else label})"
        result = runner.run(notebook, parameters,
                            ctx.state.report_path(declared.name, label, ".ipynb"),
                            ctx.project.root, what)
        missing = [str(path) for path in outputs.values() if not path.exists()]
        if missing:
            raise NotebookError(f"{what}: notebook {notebook.name} ran but did not write its "
                                f"output to {', '.join(missing)}; write each partition's frame "
                                f"to its `output` path. Executed notebook: {result.executed}")
        yield from emit(declared, outputs, {
            "notebook": dg.MetadataValue.notebook(str(result.executed)),
            "report": dg.MetadataValue.path(str(result.html)),
            "notebook_seconds": round(result.seconds, 2),
        })

    return compute
