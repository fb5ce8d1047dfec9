"""Whether the served API could answer with a candidate, checked before it becomes champion.

The features notebook makes the features a model learns from; the package's transform makes
the ones it is served. A column made by one and not the other passes training and the gate,
and fails only at the deployment's probe, after the champion alias moved to a model no bento
can serve. So the gate also applies the transform to the deployment's probe (a known request)
and refuses a candidate whose features it does not make, or makes as no finite number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from assetbook.runners.serving.packaging import BentoSource
from assetbook.serving.config import ServiceSettings
from assetbook.serving.model_file import ModelFile
from assetbook.serving.references import bound_transform
from assetbook.spec.loader import ProjectSpec


@dataclass(frozen=True)
class ServedRequest:
    """The rows a deployment's probe sends, and the service that answers them."""

    settings: ServiceSettings
    rows: tuple[dict[str, Any], ...]
    read_from: tuple[str, ...]  # the package and deploy assets whose specs say both

    def problem(self, model_file: Path) -> str | None:
        """Why the service could not answer the probe with this model file, or None."""
        transform = self.settings.transform or "no transform"
        preprocessing = ModelFile.read(model_file).preprocessing
        try:
            frame = bound_transform(self.settings.transform, self.settings.options)(
                pd.DataFrame(list(self.rows)))
        except Exception as exc:  # the user's transform, on the user's probe
            return f"not servable: {transform} fails on the deployment's probe: " \
                   f"{type(exc).__name__}: {exc}"
        if missing := [name for name in preprocessing.features if name not in frame.columns]:
            return (f"not servable: {transform} does not make {', '.join(missing)}, which the "
                    "model learned from (make the served features as the features notebook "
                    "makes them)")
        unscorable = preprocessing.unscorable(preprocessing.transform(frame),
                                              lambda i: f"probe row {i}")
        return f"not servable: {transform}: {unscorable}" if unscorable else None


def served_request(project: ProjectSpec, champion: str) -> ServedRequest | None:
    """The probe of a deployment of a bento of `champion`, with Assetbook's service; None
    where there is none, its body holds no record, or the bento's own service.py may
    transform as it likes."""
    for package, declared in project.assets.items():
        if declared.spec.kind != "package" or tuple(declared.spec.inputs) != (champion,):
            continue
        source = BentoSource.of(project, package)
        if source.custom is not None and (source.custom / "service.py").exists():
            return None
        for deploy in project.assets.values():
            if deploy.spec.kind == "deploy" and package in deploy.spec.inputs:
                rows = _rows(deploy.spec.probe, source.settings)
                return ServedRequest(source.settings, rows, (package, deploy.name)) \
                    if rows else None
    return None


def _rows(probe: Any, settings: ServiceSettings) -> tuple[dict[str, Any], ...]:
    """The records a probe's body sends to /predict or /predict_batch."""
    if probe.path.rstrip("/") == "/predict_batch":
        return tuple(probe.body.get(settings.batch) or ())
    record = probe.body.get(settings.record)
    return (record,) if isinstance(record, dict) else ()
