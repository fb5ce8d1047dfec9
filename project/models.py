"""The loans classifier: the framework's MLP (`assetbook.models.TabularNet`) set for this
binary target. It is named in the spec as `project.models:LoanClassifier` to show where a
project's own LightningModule goes: replace it with any module that keeps the contract
described in `assetbook/models.py`, and its source becomes part of the code version.
"""

from __future__ import annotations

from assetbook.models import TabularNet


class LoanClassifier(TabularNet):
    def __init__(self, n_features: int, hidden: int = 64, layers: int = 2,
                 dropout: float = 0.1, lr: float = 3e-3, weight_decay: float = 1e-4) -> None:
        super().__init__(n_features, n_outputs=1, task="binary", hidden=hidden, layers=layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay)
