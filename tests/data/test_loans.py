"""The loan generator: the paper's ten functions, determinism per key, and the drift."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from project.schemas import LoanApplications
from project.stream import FEATURES, LoanStream, label

# Hand-checked against the definitions in Agrawal et al. (1993); 0 is Group A.
ROWS = pd.DataFrame(
    [
        # salary, commission, age, elevel, car, zipcode, hvalue, hyears, loan
        (60_000, 30_000, 30, 0, 5, 0, 500_000, 25, 150_000),
        (140_000, 0, 45, 4, 1, 8, 100_000, 5, 450_000),
        (30_000, 20_000, 70, 2, 10, 4, 300_000, 30, 350_000),
    ],
    columns=list(FEATURES),
)
EXPECTED = {  # function -> labels of the three rows
    1: [0, 1, 0], 2: [0, 1, 0], 3: [0, 1, 0], 4: [0, 1, 1], 5: [0, 0, 0],
    6: [0, 1, 0], 7: [0, 1, 1], 8: [0, 0, 0], 9: [0, 1, 1], 10: [0, 0, 0],
}


@pytest.mark.parametrize("function", range(1, 11))
def test_labelling_functions_match_the_paper(function: int) -> None:
    assert label(ROWS, function).tolist() == EXPECTED[function]


def test_same_key_same_rows_other_key_other_rows() -> None:
    stream = LoanStream(rows_per_partition=500, seed=3)
    pd.testing.assert_frame_equal(stream.generate("2024-01-05"), stream.generate("2024-01-05"))
    assert not stream.generate("2024-01-05").equals(stream.generate("2024-01-06"))
    assert not stream.generate("2024-01-05").equals(LoanStream(500, seed=4).generate("2024-01-05"))


def test_drift_switches_the_labelling_function() -> None:
    stream = LoanStream(rows_per_partition=3000, function=1, drift_function=7,
                        drift_day=date(2024, 1, 10), label_noise=0.0)
    before, after = stream.generate("2024-01-09"), stream.generate("2024-01-10")
    assert (before["label"] == label(before, 1)).all()
    assert (after["label"] == label(after, 7)).all()
    assert (after["label"] != label(after, 1)).mean() > 0.2  # the concept really moved


def test_label_noise_flips_about_that_share() -> None:
    frame = LoanStream(rows_per_partition=20_000, label_noise=0.1).generate("2024-02-01")
    flipped = (frame["label"] != label(frame, 1)).mean()
    assert 0.09 < flipped < 0.11


def test_generated_days_pass_the_schema() -> None:
    frame = LoanStream(rows_per_partition=5000, seed=1).generate("2024-03-01")
    LoanApplications.validate(frame)
    assert frame["commission"][frame["salary"] >= 75_000].eq(0).all()
    assert np.isin(frame["zipcode"], range(9)).all()


def test_drift_needs_date_keys() -> None:
    with pytest.raises(ValueError, match="partition key 'batch-7' is not a date"):
        LoanStream(drift_day=date(2024, 1, 1)).generate("batch-7")
