"""The schema of a loan application (Agrawal et al. 1993): ranges from the generator's definition.

It validates every landed day as a blocking check, and later gives the served API its
input types and bounds, so the data and the requests are held to one definition. Two rules
hold a day as a whole, not a row: no application lands twice, and both classes appear
(a day with one class only cannot train a classifier nor score one).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

DUPLICATE_ROWS = "no_duplicate_rows (the same application landed more than once)"
BOTH_CLASSES = ("both_classes (a day with one class only is a data problem: it can neither "
                "train nor score a classifier)")


class LoanApplications(pa.DataFrameModel):
    salary: Series[float] = pa.Field(ge=20_000, le=150_000, nullable=False)
    commission: Series[float] = pa.Field(ge=0, le=75_000, nullable=False)
    age: Series[int] = pa.Field(ge=18, le=100, nullable=False)
    elevel: Series[int] = pa.Field(isin=[0, 1, 2, 3, 4], nullable=False)
    car: Series[int] = pa.Field(ge=1, le=20, nullable=False)
    zipcode: Series[int] = pa.Field(ge=0, le=8, nullable=False)
    hvalue: Series[float] = pa.Field(ge=0, le=1_500_000, nullable=False)
    hyears: Series[int] = pa.Field(ge=1, le=30, nullable=False)
    loan: Series[float] = pa.Field(ge=0, le=500_000, nullable=False)
    label: Series[int] = pa.Field(isin=[0, 1], nullable=False)

    @pa.check("label", error=BOTH_CLASSES)
    def both_classes(cls, label: Series[int]) -> Series[bool]:
        """Every row fails when one class is missing, so the message shows the one present."""
        return pd.Series(label.nunique() > 1, index=label.index)

    @pa.dataframe_check(error=DUPLICATE_ROWS)
    def no_duplicate_rows(cls, frame: pd.DataFrame) -> Series[bool]:
        """The first copy passes; every later copy of a row fails."""
        return ~frame.duplicated(keep="first")

    class Config:
        strict = True  # an unexpected column is an error, not silently carried along
        coerce = True  # landed CSVs read integers as floats; coercion is checked, not assumed
