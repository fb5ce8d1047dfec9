"""Package a model file as a BentoML bento: the weights go into the BentoML model store
(as a file, no pickled code), then Assetbook's service, built from the spec, is built into a
self-contained bento that pins them.

It runs in its own process (`package()` launches `python -m` this module) so that the
BentoML home and the project's import path are set before BentoML and the project's modules
are imported, and a killed build leaves only BentoML's own temporary folders behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assetbook.errors import AssetbookError
from assetbook.kinds.package import PackageAssetSpec
from assetbook.kinds.package.served import resolve_served
from assetbook.runners.serving.context import write_context
from assetbook.serving.config import MODEL_CONFIG, MODEL_FILE, ServiceConfig, ServiceSettings
from assetbook.serving.model_file import FORMAT, ModelFile
from assetbook.spec.loader import ProjectSpec


class PackagingError(AssetbookError):
    """The bento could not be built."""


@dataclass(frozen=True)
class BentoSource:
    """What a bento is built from, besides the model file."""

    root: Path  # the project root: importable while building
    packages: tuple[str, ...]  # the root's packages the service imports: carried as wheels
    settings: ServiceSettings
    custom: Path | None = None  # bentos/<name>/: the user's bentofile.yaml and service.py

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "packages": list(self.packages),
                "settings": asdict(self.settings),
                "custom": str(self.custom) if self.custom else None}

    @classmethod
    def of(cls, project: ProjectSpec, package: str) -> BentoSource:
        """Assetbook's service for a package asset, as its spec and the graph describe it."""
        spec = project.assets[package].spec
        assert isinstance(spec, PackageAssetSpec)
        served, service = resolve_served(project, package), spec.service
        settings = ServiceSettings(schema=served.schema, exclude=(served.target,),
                                   transform=service.transform, options=service.options,
                                   record=service.record, batch=service.batch,
                                   log_predictions=service.log_predictions)
        return cls(project.root, served.packages, settings,
                   project.root / spec.bento if spec.bento else None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BentoSource:
        return cls(Path(data["root"]), tuple(data["packages"]),
                   ServiceSettings.from_dict(data["settings"]),
                   Path(data["custom"]) if data["custom"] else None)


@dataclass(frozen=True)
class Packaged:
    bento: str  # bento tag, e.g. loans_classifier_service:abc123
    model: str  # BentoML model tag


def package(model_file: Path, source: BentoSource, model_name: str, labels: dict[str, str],
            bentoml_home: Path) -> Packaged:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch, "packaged.json")
        command = [sys.executable, "-m", "assetbook.runners.serving.packaging",
                   "--model-file", str(model_file), "--source", json.dumps(source.to_dict()),
                   "--model-name", model_name, "--labels", json.dumps(labels), "--out", str(out)]
        path = os.pathsep.join(p for p in (str(source.root), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "BENTOML_HOME": str(bentoml_home), "BENTOML_DO_NOT_TRACK": "true",
               "PYTHONPATH": path}
        # in the project root: `python -m` puts the working folder first on the import path
        process = subprocess.run(command, env=env, cwd=source.root, capture_output=True,
                                 text=True, check=False)
        if process.returncode != 0 or not out.exists():
            raise PackagingError(f"building the bento of {model_name} failed:\n"
                                 f"{process.stderr[-4000:]}")
        return Packaged(**json.loads(out.read_text()))


def _build(model_file: Path, source: BentoSource, model_name: str, labels: dict[str, str]
           ) -> Packaged:
    import bentoml  # here: after BENTOML_HOME is set

    info = ModelFile.read(model_file)
    with bentoml.models.create(model_name, labels=labels, metadata={"format": FORMAT}) as model:
        shutil.copyfile(model_file, model.path_of(MODEL_FILE))
        Path(model.path_of(MODEL_CONFIG)).write_text(json.dumps(info.to_dict()))
    # serving.json names the exact model tag, so the bento serves this version and no later one
    config = ServiceConfig(source.settings, str(model.tag), info.target.task,
                           info.target.classes)
    with tempfile.TemporaryDirectory() as scratch:
        context = Path(scratch, "context")
        bentofile = write_context(context, config, f"{model_name}_service", source.root,
                                  source.packages, source.custom)
        with contextlib.chdir(context):  # BentoML copies only wheels below the working folder
            bento = bentoml.bentos.build_bentofile(str(bentofile), build_ctx=str(context),
                                                   labels=labels)
    pinned = [str(m.tag) for m in bento.info.all_models]
    if str(model.tag) not in pinned:
        raise PackagingError(f"bento {bento.tag} pins {pinned}, not the new model {model.tag}")
    return Packaged(bento=str(bento.tag), model=str(model.tag))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ("--model-file", "--source", "--model-name", "--labels", "--out"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    packaged = _build(Path(args.model_file), BentoSource.from_dict(json.loads(args.source)),
                      args.model_name, json.loads(args.labels))
    Path(args.out).write_text(json.dumps(asdict(packaged)))
