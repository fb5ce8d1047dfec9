"""Features of loan applications: the attributes the labelling functions use, in scales a
neural network trains well on. The features notebook and the served API both call this, and
the notebook asset lists this module, so an edit here is a new code version."""

from __future__ import annotations

import numpy as np
import pandas as pd

MONEY = ["salary", "commission", "hvalue", "loan", "income", "equity"]


def make_features(applications: pd.DataFrame, log_money: bool = True) -> pd.DataFrame:
    features = applications.copy()
    features["income"] = features["salary"] + features["commission"]
    features["loan_to_income"] = features["loan"] / features["income"]
    features["equity"] = features["hvalue"] * np.clip(features["hyears"] - 20, 0, None) / 10
    if log_money:
        features[MONEY] = np.log1p(features[MONEY])
    return features
