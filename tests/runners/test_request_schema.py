"""The API's request model comes from the pandera schema of the data."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from assetbook.runners.serving.schema import request_model
from project.schemas import LoanApplications

Application = request_model(LoanApplications.to_schema(), "LoanApplication", {"label"})
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
