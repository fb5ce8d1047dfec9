"""`notebook`: a notebook run by papermill that writes each partition's frame, or, with
`outputs`, several frames, each an asset of its own.

```yaml
daily_tables:
  kind: notebook
  notebook: notebooks/tables.py
  partitions: days
  inputs: {validated_applications: same}
  outputs:                      # or the shorthand `outputs: [features, feature_summary]`
    features: {checks: [{schema: project.schemas:Features}], freshness: {fail_after: 2d}}
    feature_summary: {description: One row per day.}
```

The notebook, its partitions, inputs, config, timeout and code version are shared: one run
writes every output. What is an output's own (its description, group, checks, freshness,
automation) it declares under its name; downstream assets read an output by that name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from assetbook.kinds.base import Fail, Kind, notebook_rules
from assetbook.spec.models import (
    NAME_PATTERN,
    AutomationSpec,
    FreshnessSpec,
    NotebookStepSpec,
    SchemaCheckSpec,
    Strict,
)

if TYPE_CHECKING:
    from assetbook.spec.loader import DeclaredAsset, ProjectSpec


class NotebookOutputSpec(Strict):
    """What one output of a notebook declares for itself; the rest is the notebook's."""

    description: str | None = Field(None, description="Default: the notebook's.")
    group: str | None = Field(None, pattern=NAME_PATTERN, description="Default: the notebook's.")
    checks: tuple[SchemaCheckSpec, ...] = ()
    freshness: FreshnessSpec | None = None
    automation: AutomationSpec | None = Field(
        None, description="Default: the notebook's. Running it runs the notebook, which writes "
        "every output; only the outputs asked for are stored.")


def _listed_outputs(value: Any) -> Any:
    """`outputs: [a, b]` is short for `outputs: {a: {}, b: {}}`, and `a:` with nothing for
    `a: {}`."""
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        if twice := sorted({name for name in value if value.count(name) > 1}):
            raise ValueError(f"output '{twice[0]}' is listed twice")
        return dict.fromkeys(value, {})
    if isinstance(value, dict):
        return {name: {} if output is None else output for name, output in value.items()}
    return value


OutputsSpec = Annotated[
    dict[Annotated[str, Field(pattern=NAME_PATTERN)], NotebookOutputSpec],
    BeforeValidator(_listed_outputs),
]


class NotebookAssetSpec(NotebookStepSpec):
    kind: Literal["notebook"]
    backfill: Literal["single_run", "per_partition"] = Field(
        "single_run", description="single_run runs a range of partitions in one kernel."
    )
    outputs: OutputsSpec = Field(
        default_factory=dict, description="The assets the notebook writes, each with the "
        "fields that are its own; none: the notebook writes one asset, named by its key.")

    def output_specs(self) -> dict[str, NotebookAssetSpec]:
        """Each output as the spec of a one-asset notebook: the notebook's fields with the
        output's own, so that every rule and builder of single assets applies to it."""
        return {name: self.model_copy(update={
            "description": output.description or self.description,
            "group": output.group or self.group,
            "checks": output.checks,
            "freshness": output.freshness,
            "automation": output.automation or self.automation,
            "outputs": {},
        }) for name, output in self.outputs.items()}


def rules(project: ProjectSpec, declared: DeclaredAsset, fail: Fail) -> None:
    """With `outputs`, checks and freshness belong to the output they are about."""
    notebook_rules(project, declared, fail)
    spec = declared.spec
    assert isinstance(spec, NotebookAssetSpec)
    for field in ("checks", "freshness"):
        if spec.outputs and getattr(spec, field):
            raise fail(f"a notebook with `outputs` has no `{field}` of its own: move it under "
                       f"the output it is about, e.g. outputs.{next(iter(spec.outputs))}."
                       f"{field}", field)


KIND = Kind("notebook", NotebookAssetSpec,
            "assetbook.kinds.notebook.asset:build_notebook_asset", rules)
