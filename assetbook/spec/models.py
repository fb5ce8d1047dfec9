"""Pydantic models of `assets/*.yaml`: what a user may declare, validated once at load time.

Every model forbids unknown keys, so a typo fails with the list of allowed fields instead of
being ignored. Variants (partitions, sources, inputs, automation) are tagged by `type` or
`mapping`; asset kinds (their models in `assetbook/kinds/`) are tagged by `kind`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _parse_duration(value: Any) -> Any:
    """Accept "90m", "36h", "2d", "1w" besides pydantic's own forms."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- partitions -------------------------------------------------------------------------------


class DailyPartitionsSpec(Strict):
    type: Literal["daily"]
    start: date = Field(description="First day of the stream.")
    end: date | None = Field(None, description="Exclusive last day; open-ended when omitted.")
    end_offset: int = Field(0, description="0: yesterday is the latest day; 1 adds today.")


class MonthlyPartitionsSpec(Strict):
    type: Literal["monthly"]
    start: date
    end: date | None = None
    end_offset: int = 0


class DynamicPartitionsSpec(Strict):
    type: Literal["dynamic"] = Field(
        description="Keys are added at run time, e.g. by the landing sensor, one per file."
    )


PartitionsSpec = Annotated[
    DailyPartitionsSpec | MonthlyPartitionsSpec | DynamicPartitionsSpec,
    Field(discriminator="type"),
]


# --- inputs -----------------------------------------------------------------------------------


class SameInputSpec(Strict):
    mapping: Literal["same"] = Field(description="The upstream partition with the same key.")


class WindowInputSpec(Strict):
    mapping: Literal["window"]
    size: int = Field(ge=1, description="How many partitions the window holds.")
    lag: int = Field(
        0, ge=0, description="Partitions skipped before the current one (1 keeps it held out)."
    )
    after_drift: str | None = Field(
        None, description="A drift asset: when it flagged a drift, the window starts at the "
        "drift's first day (if that leaves any day), so a retrain learns the new behaviour.")


class AllInputSpec(Strict):
    mapping: Literal["all"] = Field(description="Every materialized upstream partition.")


def _shorthand_mapping(value: Any) -> Any:
    """`inputs: {x: same}` is short for `inputs: {x: {mapping: same}}`."""
    return {"mapping": value} if isinstance(value, str) else value


InputSpec = Annotated[
    Annotated[SameInputSpec | WindowInputSpec | AllInputSpec, Field(discriminator="mapping")],
    BeforeValidator(_shorthand_mapping),
]


# --- automation and freshness -----------------------------------------------------------------


class CheckTriggerSpec(Strict):
    on_failed_checks: tuple[str, ...] = Field(
        (), description="Assets (e.g. a drift report) whose check failing on a newly "
        "materialized partition also triggers a run; they become dependencies.")


class EagerAutomationSpec(CheckTriggerSpec):
    type: Literal["eager"] = Field(
        description="Materialize when a dependency updates, a partition is new or code changed."
    )


class CronAutomationSpec(CheckTriggerSpec):
    type: Literal["on_cron"]
    cron: str = Field(description="Cron schedule, e.g. '0 3 * * 1' (Mondays at 03:00).")


class ManualAutomationSpec(CheckTriggerSpec):
    type: Literal["manual"] = Field(description="Only materialized when someone asks.")


def _shorthand_type(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


AutomationSpec = Annotated[
    Annotated[
        EagerAutomationSpec | CronAutomationSpec | ManualAutomationSpec,
        Field(discriminator="type"),
    ],
    BeforeValidator(_shorthand_type),
]


class FreshnessSpec(Strict):
    fail_after: Duration = Field(description="Age after which the asset is FAIL, e.g. '2d'.")
    warn_after: Duration | None = Field(None, description="Age after which it is WARN.")


# --- checks and sources -----------------------------------------------------------------------


class SchemaCheckSpec(Strict):
    schema_: str = Field(
        alias="schema",
        pattern=r"^[\w.]+:[\w]+$",
        description="A pandera DataFrameModel or DataFrameSchema as 'module.path:Name'.",
    )
    blocking: bool = Field(True, description="A failure stops everything downstream.")
    name: str | None = Field(None, pattern=NAME_PATTERN, description="Check name in the UI.")

    @property
    def check_name(self) -> str:
        return self.name or f"{self.schema_.rsplit(':', 1)[1]}_schema"


class GeneratorSpec(Strict):
    """A Python function that makes one partition's frame from its key: `fn(key, rows=...,
    **options)`. It must be a pure function of its arguments, so a re-materialized partition
    gets the same rows."""

    generator: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                           description="The function as 'module.path:name'; its module is "
                           "part of the code version.")
    rows: int = Field(2000, ge=1, le=10_000_000, description="Rows per partition.")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="Keyword arguments of the function.")


class GeneratorSourceSpec(GeneratorSpec):
    type: Literal["generator"]


class SimulatorSpec(GeneratorSpec):
    start: date = Field(description="First day `assetbook simulate` lands; it goes on from the "
                        "last landed day.")


class LandingSourceSpec(Strict):
    type: Literal["landing"]
    folder: str | None = Field(
        None,
        description="Folder watched for daily files, relative to the project root, or a "
        "store URL (s3://bucket/prefix); default: landing/<asset> in the project's store.",
    )
    formats: tuple[Literal["parquet", "csv"], ...] = ("parquet", "csv")
    simulator: SimulatorSpec | None = Field(
        None, description="What `assetbook simulate` lands here when there is no real data."
    )


class ServedSourceSpec(Strict):
    """What the served model answered, a day per partition (daily partitions only): the rows
    its API recorded (serving/recording.py), read from BentoML's monitoring log."""

    type: Literal["served"]
    records: Literal["answers", "refusals"] = Field(
        "answers", description="answers: one row per answered row; refusals: one per "
        "refused (4xx) request, with its status and reason.")
    deployment: str | None = Field(
        None, description="The `deploy` asset whose answers are read; default: the first "
        "deployment (the one each champion goes to).")
    folder: str | None = Field(
        None, description="Or a BentoML monitoring folder, relative to the project root.")


SourceSpec = Annotated[GeneratorSourceSpec | LandingSourceSpec | ServedSourceSpec,
                       Field(discriminator="type")]


# --- assets -----------------------------------------------------------------------------------


class AssetSpecBase(Strict):
    description: str | None = None
    group: str | None = Field(None, pattern=NAME_PATTERN, description="Default: the pipeline.")
    partitions: str | None = Field(None, description="Name of an entry of `partitions`.")
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    automation: AutomationSpec = EagerAutomationSpec(type="eager")
    freshness: FreshnessSpec | None = None
    checks: tuple[SchemaCheckSpec, ...] = ()
    modules: tuple[str, ...] = Field(
        (), description="Python modules whose source is part of the asset's code version."
    )

    @property
    def dependencies(self) -> list[str]:
        """Upstream assets: the inputs it reads and the assets whose checks trigger it."""
        drift = [m.after_drift for m in self.inputs.values()
                 if isinstance(m, WindowInputSpec) and m.after_drift]
        return list(dict.fromkeys([*self.inputs, *self.automation.on_failed_checks, *drift]))

    def output_specs(self) -> Mapping[str, AssetSpecBase]:
        """The assets of a spec that writes several (a notebook's `outputs`), each as a spec of
        its own; empty when the spec is one asset, named by its key."""
        return {}


# --- notebooks --------------------------------------------------------------------------------


class NotebookStepSpec(AssetSpecBase):
    """What the kinds that run a notebook (notebook, evaluate) declare alike.

    Fields excluded from dumps are left out of the code version: the notebook's code cells
    stand for its path (an .ipynb and its paired .py have one version), and a timeout bounds
    a run, not its result.
    """

    notebook: str = Field(exclude=True, description="The notebook, relative to the project "
                          "root: an .ipynb, a jupytext percent-format .py or a MyST .md.")
    config: dict[str, Any] = Field(default_factory=dict, description="Injected as `config`.")
    timeout: Duration = Field(
        timedelta(hours=1), gt=timedelta(0), exclude=True,
        description="How long the whole notebook may run, in seconds or as '90m', '2h'; past "
        "it the run fails naming the running cell, and the kernel is shut down.")


# --- training and search ----------------------------------------------------------------------

OBJECT_REF = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class TrainerSpec(Strict):
    """Lightning Trainer settings; the same spec runs on 1 CPU or N GPUs."""

    max_epochs: int = Field(10, ge=1)
    batch_size: int = Field(256, ge=1, description="Global batch, split across devices.")
    accelerator: Literal["cpu", "gpu", "auto"] = "cpu"
    devices: int = Field(1, ge=1, description="Processes per node; >1 trains with DDP.")
    strategy: Literal["auto", "ddp"] = Field(
        "auto", description="'auto' is DDP whenever devices * num_nodes > 1.")
    num_nodes: int = Field(1, ge=1)
    precision: Literal["32-true", "16-mixed", "bf16-mixed", "64-true"] = "32-true"
    seed: int = 0
    validation_fraction: float = Field(0.2, gt=0, lt=1, description="Share of rows held for "
                                       "validation (early stopping, search metric).")


class ModelAssetSpec(AssetSpecBase):
    model: str = Field(pattern=OBJECT_REF, description="LightningModule as 'module:Class'; "
                       "its source is part of the code version.")
    target: str = Field("label", description="Column to predict; every other numeric column "
                        "is a feature.")
    task: Literal["auto", "binary", "multiclass", "regression"] = Field(
        "auto", description="What the target is; auto: two values are binary, a few labels "
        "multiclass, other numbers regression.")
    trainer: TrainerSpec = TrainerSpec()
    timeout: Duration = Field(  # not in the code version (see NotebookStepSpec.timeout)
        timedelta(hours=6), gt=timedelta(0), exclude=True,
        description="How long the fit (for tune: the whole search) may run, in seconds or as "
        "'90m', '6h'; past it the run fails and its processes (or Ray trials) are stopped.")

    @property
    def model_module(self) -> str:
        """The module that defines the model class."""
        return self.model.split(":")[0]


class UniformSpec(Strict):
    type: Literal["uniform", "loguniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _bounds(self) -> UniformSpec:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.type == "loguniform" and self.low <= 0:
            raise ValueError(f"loguniform needs low > 0 (got {self.low})")
        return self


class IntegerSpec(Strict):
    type: Literal["randint"]
    low: int
    high: int = Field(description="Exclusive.")

    @model_validator(mode="after")
    def _bounds(self) -> IntegerSpec:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class ChoiceSpec(Strict):
    type: Literal["choice"]
    values: list[Any] = Field(min_length=1)


DimensionSpec = Annotated[UniformSpec | IntegerSpec | ChoiceSpec, Field(discriminator="type")]


class AshaSpec(Strict):
    type: Literal["asha"] = "asha"
    grace_period: int = Field(1, ge=1, description="Epochs every trial gets.")
    reduction_factor: float = Field(2, gt=1)


class SearchSpec(Strict):
    space: dict[str, DimensionSpec] = Field(min_length=1)
    metric: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    num_samples: int = Field(8, ge=1)
    max_concurrent_trials: int | None = Field(None, ge=1)
    algorithm: Literal["optuna", "random"] = "optuna"
    scheduler: AshaSpec | None = AshaSpec()
    cpus_per_trial: float = Field(1, gt=0)
    gpus_per_trial: float = Field(0, ge=0)
    seed: int = 0


class RaySpec(Strict):
    address: str | None = Field(None, description="An existing cluster (or $RAY_ADDRESS); "
                                "default: a local Ray started for the search.")


# --- delivery ---------------------------------------------------------------------------------


class GateSpec(Strict):
    minimum: dict[str, float] = Field(default_factory=dict, alias="min",
                                      description="metric: lowest acceptable value.")
    maximum: dict[str, float] = Field(default_factory=dict, alias="max",
                                      description="metric: highest acceptable value (losses).")
    compare: str | None = Field(None, description="Metric compared with the champion's; "
                                "default: the task's headline metric (binary roc_auc, "
                                "multiclass f1_macro, regression rmse).")
    higher_is_better: bool | None = Field(None, description="Direction of `compare`; default: "
                                          "lower is better for rmse, mae, log_loss and brier, "
                                          "higher for any other metric.")
    margin: float = Field(0.0, ge=0, description="How much worse than the champion the "
                          "candidate may be on `compare`.")


class ServiceSpec(Strict):
    """The API Assetbook builds for the champion: requests typed by a validate asset's schema,
    made into the model's features by the transform the features notebook calls."""

    schema_: str | None = Field(
        None, alias="schema", pattern=NAME_PATTERN,
        description="The validate asset whose (first) schema types a request, its target "
        "column left out; default: the only validate asset upstream of the champion's model.")
    transform: str | None = Field(
        None, pattern=OBJECT_REF, description="`module:function` that turns a frame of "
        "request rows into the model's feature columns; default: the rows are the features.")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="Keyword arguments of `transform`.")
    record: str = Field("row", pattern=NAME_PATTERN,
                        description="Body field of one row: POST /predict {record: {...}}.")
    batch: str = Field("rows", pattern=NAME_PATTERN, description="Body field of many rows: "
                       "POST /predict_batch {batch: [...]}.")
    log_predictions: float = Field(
        1.0, ge=0, le=1, description="Share of requests whose answered rows are recorded (fields, "
        "answer, model version, latency), through BentoML's monitoring; 0 records none. A "
        "`served` source reads them back as daily partitions.")

    @model_validator(mode="after")
    def _consistent(self) -> ServiceSpec:
        if self.options and self.transform is None:
            raise ValueError("`options` are keyword arguments of `transform`: set `transform` "
                             "or remove `options`")
        if self.record == self.batch:
            raise ValueError(f"`record` and `batch` are both '{self.record}': name the "
                             "fields of /predict and /predict_batch differently")
        return self


class ProbeSpec(Strict):
    path: str = "/predict"
    body: dict[str, Any] = Field(description="A known request the new server must answer.")
