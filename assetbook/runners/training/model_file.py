"""A trained model on disk: weights plus a small config, loadable with `weights_only=True`.

No pickled code: the config names the LightningModule class and its constructor arguments,
and loading imports that class and fills it with the tensors.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetbook.errors import AssetbookError
from assetbook.resources.state import atomic_path
from assetbook.runners.training.data import Preprocessing

# torch is imported where a model is saved or loaded: every Dagster run process imports this
# module and most never touch a model (importing torch takes ~3 s).
if TYPE_CHECKING:
    import torch

FORMAT = "assetbook-model/1"


class ModelImportError(AssetbookError):
    """The model reference does not name an importable LightningModule."""


def import_model_class(reference: str) -> type:
    """`module:Class` -> the class, with an error that says which part failed."""
    import pytorch_lightning as pl

    module_name, _, name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelImportError(f"model '{reference}': module '{module_name}' does not import: "
                               f"{exc}") from exc
    model_class = getattr(module, name, None)
    if model_class is None:
        raise ModelImportError(f"model '{reference}': module '{module_name}' has no '{name}'")
    if not (isinstance(model_class, type) and issubclass(model_class, pl.LightningModule)):
        raise ModelImportError(f"model '{reference}' is not a pytorch_lightning.LightningModule")
    return model_class


@dataclass(frozen=True)
class ModelFile:
    model: str
    hyperparameters: dict[str, Any]
    preprocessing: Preprocessing
    target: str
    metrics: dict[str, float]

    def save(self, path: Path, state_dict: dict[str, torch.Tensor]) -> None:
        payload = {
            "format": FORMAT, "model": self.model, "hyperparameters": self.hyperparameters,
            "preprocessing": self.preprocessing.to_dict(), "target": self.target,
            "metrics": self.metrics,
            "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        }
        import torch

        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    @classmethod
    def load(cls, path: Path) -> tuple[ModelFile, torch.nn.Module]:
        """The config and the module in eval mode; refuses anything but tensors and data."""
        import torch

        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") != FORMAT:
            raise AssetbookError(f"{path} is not an Assetbook model file")
        info = cls(payload["model"], payload["hyperparameters"],
                   Preprocessing.from_dict(payload["preprocessing"]), payload["target"],
                   payload["metrics"])
        module = import_model_class(info.model)(
            n_features=len(info.preprocessing.features), **info.hyperparameters)
        module.load_state_dict(payload["state_dict"])
        return info, module.eval()
