"""The API's request models come from the pandera schema of the data."""

from __future__ import annotations

import math

import pandera.pandas as pa
import pytest
from pydantic import ValidationError

from assetbook.errors import AssetbookError
from assetbook.serving.request import (
    body_models,
    empty_numbers,
    load_schema,
    request_model,
    rows_frame,
)

Application = request_model(load_schema("project.schemas:LoanApplications"), "Application",
                            {"label"})
GOOD = {"salary": 85000.0, "commission": 0.0, "age": 45, "elevel": 2, "car": 4, "zipcode": 3,
        "hvalue": 350000.0, "hyears": 12, "loan": 150000.0}


def test_fields_bounds_and_allowed_values_follow_the_schema() -> None:
    schema = Application.model_json_schema()
    assert set(schema["required"]) == set(GOOD)  # the label is not asked for
    assert schema["properties"]["age"] == {"maximum": 100, "minimum": 18, "title": "Age",
                                           "type": "integer"}
    assert schema["properties"]["elevel"]["enum"] == [0, 1, 2, 3, 4]
    assert schema["additionalProperties"] is False
    assert Application(**GOOD).age == 45


@pytest.mark.parametrize(("field", "value"), [
    ("age", 101), ("age", "45"), ("age", 45.5), ("zipcode", 9), ("elevel", 5),
    ("salary", math.nan), ("loan", math.inf), ("salary", 10.0),
])
def test_bad_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Application(**{**GOOD, field: value})
    assert info.value.errors()[0]["loc"] == (field,)


def test_the_bodies_name_their_fields_as_configured_and_refuse_others() -> None:
    single, batch = body_models(Application, "application", "applications", max_batch=2)
    assert single(application=GOOD).application.age == 45
    for bad, field in (({"application": GOOD, "extra": 1}, "extra"), ({"row": GOOD}, "row")):
        with pytest.raises(ValidationError) as info:
            single(**bad)
        assert field in {error["loc"][0] for error in info.value.errors()}
    with pytest.raises(ValidationError, match="at most 2 items"):
        batch(applications=[GOOD] * 3)
    with pytest.raises(ValidationError, match="at least 1 item"):
        batch(applications=[])


@pytest.mark.parametrize(("reference", "message"), [
    ("project.nothing:Schema", "module 'project.nothing' does not import"),
    ("project.schemas:Nothing", "module 'project.schemas' has no 'Nothing'"),
    ("project.schemas:DUPLICATE_ROWS", "is a str, expected a pandera DataFrameModel"),
])
def test_a_bad_schema_reference_says_what_is_wrong(reference: str, message: str) -> None:
    with pytest.raises(AssetbookError, match=message):
        load_schema(reference)


def test_a_dataframe_schema_serves_as_well_as_a_model() -> None:
    schema = pa.DataFrameSchema({"size": pa.Column(float, pa.Check.in_range(0, 10)),
                                 "kind": pa.Column(str, pa.Check.isin(["a", "b"]))})
    Row = request_model(schema, "Row", set())
    assert Row(size=2.5, kind="a").kind == "a"
    with pytest.raises(ValidationError, match="must be one of a, b"):
        Row(size=2.5, kind="c")


VISITS = pa.DataFrameSchema({
    "bmi": pa.Column(float, pa.Check.in_range(10.0, 60.0), nullable=True),
    "visits": pa.Column(int, pa.Check.ge(0), nullable=True),
    "age": pa.Column(int, nullable=False),
})


def test_a_column_the_schema_lets_be_empty_may_be_null_or_left_out() -> None:
    """As a landed day may miss a value there (the transform fills it, or a 422 names the
    feature it left empty); a bound still holds for a value given, and NaN is no null."""
    row = request_model(VISITS, "Row", set())
    assert set(row.model_json_schema()["required"]) == {"age"}
    assert row(age=40, bmi=None).model_dump() == {"bmi": None, "visits": None, "age": 40}
    assert row(age=40, bmi=22.5, visits=3).bmi == 22.5
    for bad, field in (({"age": 40, "bmi": 70.0}, "bmi"), ({"age": 40, "bmi": math.nan}, "bmi"),
                       ({"age": 40, "visits": 2.5}, "visits"), ({"age": None}, "age"),
                       ({}, "age")):
        with pytest.raises(ValidationError) as info:
            row(**bad)
        assert [error["loc"] for error in info.value.errors()] == [(field,)]


def test_the_rows_frame_has_a_number_column_of_nan_where_every_row_left_it_empty() -> None:
    assert empty_numbers(VISITS) == ("bmi", "visits")
    frame = rows_frame([{"bmi": None, "visits": None, "age": 40},
                        {"bmi": None, "visits": 3, "age": 41}], empty_numbers(VISITS))
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        "bmi": "float64", "visits": "float64", "age": "int64"}
    assert frame["bmi"].isna().all() and frame["visits"].tolist()[1] == 3
