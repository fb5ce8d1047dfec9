"""The API's request models, derived from the pandera schema that validates the data, so a
request is held to exactly the rules a landed day is."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
import pandera.pandas as pa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from assetbook.errors import AssetbookError
from assetbook.serving.references import import_object

_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def load_schema(reference: str) -> pa.DataFrameSchema:
    """`module:Name` -> a DataFrameSchema (a DataFrameModel is converted)."""
    found = import_object(reference)
    if isinstance(found, type) and issubclass(found, pa.DataFrameModel):
        return found.to_schema()
    if isinstance(found, pa.DataFrameSchema):
        return found
    raise AssetbookError(f"schema '{reference}' is a {type(found).__name__}, expected a pandera "
                         "DataFrameModel or DataFrameSchema")


def _one_of(allowed: tuple[Any, ...]) -> AfterValidator:
    """Membership after the strict type check: a `Literal` would take `true` or `2.0` for 2,
    since pydantic compares literals by equality even in strict mode."""
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(map(str, allowed))}")
        return value

    return AfterValidator(check)


def request_model(schema: pa.DataFrameSchema, name: str, exclude: set[str]) -> type[BaseModel]:
    """A strict pydantic model: one field per column (bar `exclude`), with the schema's bounds
    and allowed values, required unless the schema lets the column be empty (then null or
    left out: the missing value a landed day may have); NaN, infinities and unknown fields
    are refused."""
    fields: dict[str, Any] = {}
    for column_name, column in schema.columns.items():
        if column_name in exclude:
            continue
        kind = _TYPES[next(k for k in _TYPES if str(column.dtype).startswith(k))]
        bounds: dict[str, Any] = {}
        annotation: Any = kind
        for check in column.checks:
            stats = check.statistics
            if check.name == "isin":
                allowed = tuple(stats["allowed_values"])
                annotation = Annotated[kind, _one_of(allowed)]
                bounds["json_schema_extra"] = {"enum": list(allowed)}
            elif check.name in ("greater_than_or_equal_to", "in_range"):
                bounds["ge"] = stats.get("min_value")
            if check.name in ("less_than_or_equal_to", "in_range"):
                bounds["le"] = stats.get("max_value")
        if column.nullable:
            annotation, bounds["default"] = annotation | None, None
        fields[column_name] = (annotation, Field(**{k: v for k, v in bounds.items()
                                                    if v is not None or k == "default"}))
    config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    return create_model(name, __config__=config, **fields)


def body_models(record: type[BaseModel], record_field: str, batch_field: str,
                max_batch: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """The bodies of `/predict` (`{record_field: {...}}`) and `/predict_batch`
    (`{batch_field: [...]}`); an unknown top-level field is refused, like an unknown column."""
    config = ConfigDict(extra="forbid", title="request")
    rows = Annotated[list[record], Field(min_length=1, max_length=max_batch)]  # type: ignore[valid-type]
    single = create_model("PredictRequest", __config__=config, **{record_field: (record, ...)})
    batch = create_model("BatchRequest", __config__=config, **{batch_field: (rows, ...)})
    return single, batch


def empty_numbers(schema: pa.DataFrameSchema) -> tuple[str, ...]:
    """The number columns a request may leave empty: read once, not at each request."""
    return tuple(name for name, column in schema.columns.items()
                 if column.nullable and str(column.dtype).startswith(("int", "float")))


def rows_frame(rows: list[dict[str, Any]], numbers: tuple[str, ...]) -> pd.DataFrame:
    """The requests' rows as the frame the transform gets: a number column (`numbers`, see
    `empty_numbers`) that every row left empty is NaN, as in a landed day, not None."""
    frame = pd.DataFrame(rows)
    for name in numbers:
        if name in frame and frame[name].isna().all():
            frame[name] = frame[name].astype("float64")
    return frame
