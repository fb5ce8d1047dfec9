"""What `assetbook init --data` learns from the user's files: the task, and a pandera schema
written out as code the user reads and edits (project/schemas.py).

The bounds are generous on purpose: the observed range widened by its own width on each side
(and kept on its side of zero), so that ordinary values of future days pass and only the
absurd fail. The schema's docstring says so, and says to tighten them.
"""

from __future__ import annotations

import keyword
import math
import re
import textwrap
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from assetbook.errors import AssetbookError
from assetbook.serving.target import MAX_CLASSES, Task, infer_task

MAX_LEVELS = MAX_CLASSES  # a text column with at most this many values gets `isin`
LINE = 100


def task_of(target: pd.Series, declared: Task | None) -> Task:
    """The declared task if the target can be one, else the one inferred from its values."""
    if declared is None:
        return infer_task(target)
    distinct = target.nunique()
    if declared == "binary" and distinct != 2:
        raise AssetbookError(f"--task binary needs a target with two values; '{target.name}' "
                             f"has {distinct}: use --task multiclass or regression")
    if declared == "multiclass" and distinct < 2:
        raise AssetbookError(f"--task multiclass needs a target with at least two values; "
                             f"'{target.name}' has {distinct}")
    if declared == "regression" and not _numeric(target):
        raise AssetbookError(f"--task regression needs a numeric target; '{target.name}' holds "
                             f"{target.dtype} values: use --task binary or multiclass")
    return declared


@dataclass(frozen=True)
class Column:
    """One column of the schema, as it will be written."""

    name: str
    attribute: str
    dtype: str  # the Python type in `Series[...]`
    nullable: bool
    isin: tuple[object, ...] = ()
    bounds: tuple[float, float | None] | None = None  # no upper bound: seen only 0
    observed: tuple[float, float] | None = None

    def lines(self) -> list[str]:
        """The field's declaration with its observed range, wrapped at 100 columns."""
        arguments = [f"alias={self.name!r}"] if self.attribute != self.name else []
        if self.isin:
            arguments.append(f"isin={list(self.isin)!r}")
        if self.bounds:
            arguments.append(f"ge={self.bounds[0]!r}")
            if self.bounds[1] is not None:
                arguments.append(f"le={self.bounds[1]!r}")
        arguments.append(f"nullable={self.nullable}")
        head = f"    {self.attribute}: Series[{self.dtype}] = pa.Field("
        code = [f"{head}{', '.join(arguments)})"]
        if len(code[0]) > LINE:
            code = [head, *(f"        {argument}," for argument in arguments), "    )"]
        if self.observed:
            seen = f"# seen {self.observed[0]:.6g} .. {self.observed[1]:.6g}"
            if len(code) == 1 and len(f"{code[0]}  {seen}") <= LINE:
                return [f"{code[0]}  {seen}"]
            code.insert(0, f"    {seen}")
        return code


def infer_columns(frame: pd.DataFrame, target: str, task: Task) -> list[Column]:
    """A column of the schema for each column of the frame, in its order: the classes of a
    classification target and of text with few values as `isin`, numbers bounded."""
    taken: set[str] = set()
    columns = []
    for name in frame.columns:
        values = frame[name]
        dtype = _python_type(values)
        classes = name == target and task != "regression"
        present = values.dropna()
        isin: tuple[object, ...] = ()
        if classes or (dtype == "str" and 0 < present.nunique() <= MAX_LEVELS):
            isin = tuple(sorted(_plain(v) for v in present.unique()))
        bounds = observed = None
        if dtype in ("int", "float") and not classes and len(present):
            observed = (float(present.min()), float(present.max()))
            bounds = widened(*observed, integer=dtype == "int")
        columns.append(Column(str(name), _attribute(str(name), taken), dtype,
                              bool(values.isna().any()), isin, bounds, observed))
    return columns


def widened(low: float, high: float, integer: bool) -> tuple[float, float | None]:
    """[low, high] widened by its width on each side, kept on its side of zero, rounded
    outwards to a round number. A column seen only as 0 (a count that has not happened yet)
    has no size to widen by: it is bounded below by 0 alone."""
    if low == high == 0:
        return (0, None) if integer else (0.0, None)
    width = high - low or max(abs(low), abs(high), 1.0)
    lower = low - width if low < 0 else max(low - width, 0.0)
    upper = high + width if high > 0 else min(high + width, 0.0)
    digits = -math.floor(math.log10(width))
    step = 10.0 ** -digits
    lower = round(math.floor(lower / step) * step, max(digits, 0))
    upper = round(math.ceil(upper / step) * step, max(digits, 0))
    return (int(lower), int(upper)) if integer else (float(lower), float(upper))


def schema_code(class_name: str, columns: list[Column], origin: str) -> str:
    """A pandera DataFrameModel module, readable and ruff-clean."""
    timestamps = any(c.dtype == "pd.Timestamp" for c in columns)
    imports = ["from __future__ import annotations", ""]
    imports += ["import pandas as pd"] if timestamps else []
    imports += ["import pandera.pandas as pa", "from pandera.typing import Series"]
    fields = "\n".join(line for c in columns for line in c.lines())
    written = textwrap.fill(f"Written by `assetbook init` from {origin}; it is your code now. "
                            "The bounds are the observed range (in the comments) widened "
                            "generously, so that ordinary values of future days pass: tighten "
                            "them to what is valid for your data. `isin` lists the values seen "
                            "in a column with few of them; add the ones that may come.", 92)
    return f'''"""The schema of one day of data: every landed day is validated against it before
anything uses it (a failure withholds the day), and the served API takes its request fields
from it.

{written}
"""

{chr(10).join(imports)}


class {class_name}(pa.DataFrameModel):
{fields}

    class Config:
        strict = True  # a column not declared here is an error, not silently carried along
        coerce = True  # values are converted to these types (CSV reads ints with gaps as floats)
'''


def _python_type(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    if pd.api.types.is_integer_dtype(values):
        return "int"
    if pd.api.types.is_float_dtype(values):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "pd.Timestamp"
    return "str"


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


RESERVED = set(dir(pa.DataFrameModel)) | {"Config"}


def _attribute(name: str, taken: set[str]) -> str:
    """A Python name for the column (the column itself when it is one); unique."""
    attribute = re.sub(r"\W+", "_", name).strip("_") or "column"
    if attribute[0].isdigit():
        attribute = f"c_{attribute}"
    while keyword.iskeyword(attribute) or attribute in RESERVED or attribute in taken:
        attribute += "_"
    taken.add(attribute)
    return attribute


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value
