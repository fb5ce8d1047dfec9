"""Pandera schemas as Dagster asset checks.

dagster-pandera only offers a type check (which fails the step without an asset check), so
this runs `validate(lazy=True)` itself and reports every failing column and rule with a count
and a sample of the bad values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from assetbook.serving.request import load_schema
from assetbook.spec.models import SchemaCheckSpec

SAMPLE = 5


@dataclass(frozen=True)
class CheckOutcome:
    result: dg.AssetCheckResult
    frames: dict[str, pd.DataFrame]  # validated (coerced) frames, by partition

    @property
    def blocks(self) -> bool:
        return not self.result.passed and self.result.severity == dg.AssetCheckSeverity.ERROR


def run_schema_check(
    spec: SchemaCheckSpec, frames: Mapping[str, pd.DataFrame], asset: str
) -> CheckOutcome:
    schema = load_schema(spec.schema_)
    problems: list[str] = []
    failing_rows = 0
    validated: dict[str, pd.DataFrame] = {}
    for partition, frame in frames.items():
        prefix = f"[{partition}] " if len(frames) > 1 else ""
        cut = fractions_cut(schema, frame)
        failing_rows += sum(len(values) for values in cut.values())
        problems.extend(f"{prefix}column '{name}': not a whole number for "
                        f"{schema.columns[name].dtype} in {len(values)} row(s), e.g. "
                        f"{values.head(SAMPLE).tolist()}" for name, values in cut.items())
        try:
            coerced = schema.validate(frame, lazy=True)
            if not cut:
                validated[partition] = coerced
        except (SchemaErrors, SchemaError) as exc:
            cases = _failure_cases(exc)
            failing_rows += len(cases)
            problems.extend(prefix + line for line in describe_failures(cases))
    passed = not problems
    description = "all rows valid" if passed else "; ".join(problems)
    return CheckOutcome(
        dg.AssetCheckResult(
            asset_key=dg.AssetKey(asset),
            check_name=spec.check_name,
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR if spec.blocking else dg.AssetCheckSeverity.WARN,
            description=description[:2000],
            metadata={
                "schema": spec.schema_,
                "partitions": ", ".join(frames),
                "failure_cases": failing_rows,
                "failures": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
            },
        ),
        validated,
    )


def fractions_cut(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The decimals with a fraction in each column the schema types as integers: pandas'
    cast, which pandera's coercion is, cuts 3.5 to 3 without a word. (A CSV column of whole
    numbers with a gap is read as decimals, so 8.0 itself passes.)"""
    cut = {}
    for name, column in schema.columns.items():
        dtype = getattr(column.dtype, "type", None)
        if (name in frame and dtype is not None and pd.api.types.is_integer_dtype(dtype)
                and pd.api.types.is_float_dtype(frame[name])):
            values = frame[name]
            fractional = values[values.notna() & (values % 1 != 0)]  # inf too
            if len(fractional):
                cut[name] = fractional
    return cut


def _failure_cases(exc: SchemaErrors | SchemaError) -> pd.DataFrame:
    if isinstance(exc, SchemaErrors):
        return exc.failure_cases
    return pd.DataFrame([{"schema_context": None, "column": getattr(exc.schema, "name", None),
                          "check": str(exc.check), "failure_case": exc.failure_cases,
                          "index": None}])


FRAME_CHECKS = {"column_in_dataframe": "is missing", "column_in_schema": "is not in the schema"}
COERCE = "coerce_dtype"


def describe_failures(cases: pd.DataFrame) -> list[str]:
    """One line per column and rule, e.g. "column 'age': less_than_or_equal_to(100) fails in
    3 row(s), e.g. [150, 200]"; a missing or unexpected column is named as such, a rule over
    whole rows (duplicates) is one line with the failing row indices, not one per column, and
    a column that cannot be coerced to its type reports that, not what follows from it."""
    lines = []
    frame_level = cases["check"].isin(list(FRAME_CHECKS))
    for _, case in cases[frame_level].iterrows():
        lines.append(f"column '{case['failure_case']}' {FRAME_CHECKS[case['check']]} "
                     f"({case['check']})")
    row_level = ~frame_level & (cases["schema_context"] == "DataFrameSchema")
    for check, group in cases[row_level].groupby("check", sort=True):
        rows = sorted(group["index"].dropna().unique().tolist())
        where = f"in {len(rows)} row(s), e.g. at index {rows[:SAMPLE]}" if rows else "as a whole"
        lines.append(f"rows: {check} fails {where}")
    by_column = cases[~frame_level & ~row_level]
    rule = by_column["check"].astype(str)
    uncoerced = by_column["column"].isin(by_column["column"][rule.str.startswith(COERCE)])
    # a column that cannot take its type also fails its dtype, and the rules that could not
    # run on its values at all (no row index): echoes of the one failure already named
    echo = uncoerced & (rule.str.startswith("dtype(") | by_column["index"].isna())
    by_column = by_column[~echo]
    by_column = by_column.assign(column=by_column["column"].fillna("<frame>").astype(str))
    for (column, check), group in by_column.groupby(["column", "check"], sort=True):
        sample = group["failure_case"].head(SAMPLE).tolist()
        lines.append(f"column '{column}': {check} fails in {len(group)} row(s), e.g. {sample}")
    return lines
