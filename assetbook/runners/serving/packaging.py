"""Package a model file as a BentoML bento: the weights go into the BentoML model store
(as a file, no pickled code), then `bentos/<name>/` is built into a bento that pins them.

It runs in its own process (`package()` launches `python -m` this module) so that the
BentoML home is set before BentoML is imported and a killed build leaves only BentoML's own
temporary folders behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from assetbook.errors import AssetbookError

MODEL_TAG_FILE = "model_tag.txt"


class PackagingError(AssetbookError):
    """The bento could not be built."""


@dataclass(frozen=True)
class Packaged:
    bento: str  # bento tag, e.g. loans_classifier_service:abc123
    model: str  # BentoML model tag


def package(model_file: Path, bento_dir: Path, model_name: str, labels: dict[str, str],
            bentoml_home: Path) -> Packaged:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch, "packaged.json")
        command = [sys.executable, "-m", "assetbook.runners.serving.packaging",
                   "--model-file", str(model_file), "--bento-dir", str(bento_dir),
                   "--model-name", model_name, "--labels", json.dumps(labels), "--out", str(out)]
        env = {**os.environ, "BENTOML_HOME": str(bentoml_home), "BENTOML_DO_NOT_TRACK": "true"}
        process = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if process.returncode != 0 or not out.exists():
            raise PackagingError(f"building the bento from {bento_dir} failed:\n"
                                 f"{process.stderr[-4000:]}")
        return Packaged(**json.loads(out.read_text()))


def _build(model_file: Path, bento_dir: Path, model_name: str, labels: dict[str, str]
           ) -> Packaged:
    import bentoml

    with bentoml.models.create(model_name, labels=labels,
                               metadata={"format": "assetbook-model/1"}) as model:
        shutil.copyfile(model_file, model.path_of("model.pt"))
    with tempfile.TemporaryDirectory() as scratch:
        # The service reads model_tag.txt, so the bento serves this version and no later one.
        context = Path(scratch, "context")
        shutil.copytree(bento_dir, context)
        (context / MODEL_TAG_FILE).write_text(str(model.tag))
        bento = bentoml.bentos.build_bentofile(str(context / "bentofile.yaml"),
                                               build_ctx=str(context), labels=labels)
    pinned = [str(m.tag) for m in bento.info.all_models]
    if str(model.tag) not in pinned:
        raise PackagingError(f"bento {bento.tag} pins {pinned}, not the new model {model.tag}")
    return Packaged(bento=str(bento.tag), model=str(model.tag))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ("--model-file", "--bento-dir", "--model-name", "--labels", "--out"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    packaged = _build(Path(args.model_file), Path(args.bento_dir), args.model_name,
                      json.loads(args.labels))
    Path(args.out).write_text(json.dumps(asdict(packaged)))
