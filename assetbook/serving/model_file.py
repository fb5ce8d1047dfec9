"""A trained model on disk: weights plus a small config, loadable with `weights_only=True`.

No pickled code: the config names the model class (a torch module, usually a
LightningModule) and its constructor arguments; loading imports that class and fills it with
the tensors. The preprocessing fitted on the training rows and the target's encoding travel
with the weights, so every reader (evaluation, serving, `load`) predicts exactly alike.

`torch.save` writes a zip archive; the config is also a JSON record of it (CONFIG_RECORD), so
a reader of the config alone (the packaging) need not import torch (~1.5 s).
"""

from __future__ import annotations

import inspect
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from assetbook.atomic import atomic_path
from assetbook.errors import AssetbookError
from assetbook.serving.references import import_object
from assetbook.serving.target import Target

# torch is imported where a model is saved or loaded: most processes that import this module
# never touch a model (importing torch takes ~2 s).
if TYPE_CHECKING:
    import torch

FORMAT = "assetbook-model/2"
SHOWN = 5  # unscorable features named in a refusal; the rest are counted
CONFIG_RECORD = "assetbook-config.json"


class ModelImportError(AssetbookError):
    """The model reference does not name an importable torch module class."""


class UnscorableRowsError(AssetbookError):
    """Rows whose features the model cannot take."""


def import_model_class(reference: str) -> type:
    """`module:Class` -> the class, with an error that says which part failed."""
    from torch import nn

    model_class = import_object(reference, "model", ModelImportError)
    if not (isinstance(model_class, type) and issubclass(model_class, nn.Module)):
        raise ModelImportError(f"model '{reference}' is not a torch module class (a "
                               "pytorch_lightning.LightningModule)")
    return model_class


def build_module(reference: str, n_features: int, target: Target,
                 hyperparameters: dict[str, Any]) -> Any:
    """The model, given `n_features`, plus `n_outputs` and `task` where it accepts them."""
    model_class = import_model_class(reference)
    parameters = inspect.signature(model_class.__init__).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    shape = {k: v for k, v in (("n_outputs", target.n_outputs), ("task", target.task))
             if takes_any or k in parameters}
    if target.n_outputs > 1 and "n_outputs" not in shape:
        raise AssetbookError(f"model '{reference}' takes no `n_outputs`, but the target "
                             f"'{target.name}' has {target.n_outputs} classes")
    try:
        return model_class(n_features=n_features, **shape, **hyperparameters)
    except TypeError as exc:
        raise AssetbookError(f"model '{reference}' rejects hyperparameters "
                             f"{sorted(hyperparameters)}: {exc}") from exc


@dataclass(frozen=True)
class Preprocessing:
    """Standardisation per feature column, fitted on the training rows only."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[list(self.features)].to_numpy(dtype=np.float32)
        return ((values - np.asarray(self.mean, np.float32))
                / np.asarray(self.scale, np.float32)).astype(np.float32)

    def unscorable(self, features: np.ndarray, row: Callable[[int], str]) -> str | None:
        """Why rows of `transform`'s output cannot be scored, or None: a feature that is not a
        finite number (a transform's division by a column the schema lets be 0, a value past
        float32's range) would give a made-up answer. `row(i)` names the i-th row."""
        rows, columns = np.nonzero(~np.isfinite(features))
        said = [f"{row(int(r))}: feature {self.features[c]} is {features[r, c]}"
                for r, c in zip(rows[:SHOWN], columns[:SHOWN], strict=True)]
        if not said:
            return None
        more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
        return (f"cannot be scored: {'; '.join(said)}{more} (the model takes finite numbers "
                "only)")

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": list(self.mean),
                "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(tuple(data["features"]), tuple(data["mean"]), tuple(data["scale"]))


@dataclass(frozen=True)
class ModelFile:
    model: str
    hyperparameters: dict[str, Any]
    preprocessing: Preprocessing
    target: Target
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """The config: everything but the weights."""
        return {"format": FORMAT, "model": self.model, "hyperparameters": self.hyperparameters,
                "preprocessing": self.preprocessing.to_dict(), "target": self.target.to_dict(),
                "metrics": self.metrics}

    def save(self, path: Path, state_dict: dict[str, torch.Tensor]) -> None:
        import torch

        payload = {**self.to_dict(),
                   "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}}
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
            with zipfile.ZipFile(tmp, "a") as archive:  # beside torch's records, in its folder
                folder = archive.namelist()[0].split("/")[0]
                archive.writestr(f"{folder}/{CONFIG_RECORD}", json.dumps(self.to_dict()))

    @classmethod
    def read(cls, path: Path | str) -> ModelFile:
        """The config alone, without importing the model class (and Lightning with it), nor
        torch where the file has its config record: what the packaging needs (the target)."""
        return cls._from_payload(path, _config_record(path) or _payload(path))

    @classmethod
    def read_config(cls, path: Path | str) -> ModelFile:
        """The config from `to_dict`'s JSON, without importing torch: what the API front
        needs (the preprocessing, the target)."""
        return cls._from_payload(path, json.loads(Path(path).read_text()))

    @classmethod
    def load(cls, path: Path | str) -> tuple[ModelFile, torch.nn.Module]:
        """The config and the module in eval mode; refuses anything but tensors and data."""
        payload = _payload(path)
        info = cls._from_payload(path, payload)
        module = build_module(info.model, len(info.preprocessing.features), info.target,
                              info.hyperparameters)
        module.load_state_dict(payload["state_dict"])
        return info, module.eval()

    @classmethod
    def _from_payload(cls, path: Path | str, payload: dict[str, Any]) -> ModelFile:
        """The config of a model file's contents, or of `to_dict`'s."""
        if payload.get("format") != FORMAT:
            raise AssetbookError(f"{path} is not an Assetbook model file ({FORMAT})")
        return cls(payload["model"], payload["hyperparameters"],
                   Preprocessing.from_dict(payload["preprocessing"]),
                   Target.from_dict(payload["target"]), payload["metrics"])


class Predictor:
    """A loaded model that answers in the target's terms: class probabilities (rows x
    classes, in `target.classes` order) or values."""

    def __init__(self, info: ModelFile, module: torch.nn.Module) -> None:
        self.info, self.module = info, module

    @classmethod
    def load(cls, path: Path | str) -> Predictor:
        """From a local path, or a store URL such as `s3://...` (through fsspec)."""
        return cls(*ModelFile.load(path))

    @property
    def target(self) -> Target:
        return self.info.target

    def features(self, frame: pd.DataFrame) -> np.ndarray:
        """The network's input for rows of features (the frame may hold more columns)."""
        return self.info.preprocessing.transform(frame)

    def outputs(self, features: np.ndarray) -> np.ndarray:
        """Decoded answers for already preprocessed rows (the batching service's step)."""
        import torch

        with torch.inference_mode():
            raw = self.module(torch.from_numpy(np.ascontiguousarray(features))).numpy()
        return self.target.decode(raw)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Answers for rows of features; rows with a feature that is no finite number are
        refused by their index (an inf from a division by zero), not answered with NaN."""
        features = self.features(frame)
        if problem := self.info.preprocessing.unscorable(features,
                                                         lambda i: f"row {frame.index[i]}"):
            raise UnscorableRowsError(problem)
        return self.outputs(features)


def _payload(path: Path | str) -> dict[str, Any]:
    """The file's contents; tensors and plain data only (`weights_only`)."""
    import torch

    with _opened(path) as file:
        return torch.load(file, map_location="cpu", weights_only=True)


def _config_record(path: Path | str) -> dict[str, Any] | None:
    """The config record of the file's zip; None for a file written before it."""
    with _opened(path) as file:
        try:
            archive = zipfile.ZipFile(file)
        except zipfile.BadZipFile:  # not torch's zip: torch.load says what it is instead
            return None
        with archive:
            names = [n for n in archive.namelist() if n.endswith(f"/{CONFIG_RECORD}")]
            return json.loads(archive.read(names[0])) if names else None


def _opened(path: Path | str) -> IO[bytes]:
    """A local file, or a store URL opened through fsspec (imported only then: a bento's
    environment reads local files)."""
    if "://" not in str(path):
        return Path(path).open("rb")
    import fsspec

    return fsspec.open(str(path), "rb").open()
