"""`assetbook init`: a new project folder that runs end to end with `assetbook run`.

The templates are this repository's own default project (spec, notebooks, bento, workspace,
CI workflow), so a scaffold runs exactly what `make run` runs here. They sit beside the
installed `project` package, which holds for a checkout installed with `pip install -e`.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
from pathlib import Path

import assetbook
from assetbook.errors import AssetbookError

TEMPLATES = (
    "assets/loans.yaml",
    "notebooks/features.ipynb",
    "notebooks/evaluation.ipynb",
    "bentos/loans/service.py",
    "bentos/loans/bentofile.yaml",
    "workspace.yaml",
    ".github/workflows/assetbook-ci.yml",
)

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
description = "An Assetbook project: notebooks and specs kept trained and served."
requires-python = ">=3.11,<3.13"
dependencies = [{requirement}]

[tool.setuptools]
packages = []   # assets/, notebooks/ and bentos/ are read from this folder, not imported

[tool.dagster]
module_name = "project.definitions"
code_location_name = "assetbook"
"""

README = """\
# {name}

An Assetbook project: notebooks and a few lines of YAML that Dagster keeps trained, checked,
packaged and served as new days of data land.

| path | what it is |
|---|---|
| `assets/` | the pipeline spec: assets, their inputs, checks, automation, freshness |
| `notebooks/` | `features.ipynb` (a day's features), `evaluation.ipynb` (candidate vs. champion) |
| `bentos/loans/` | the BentoML service that serves the champion |
| `workspace.yaml` | the Dagster code location (`project.definitions`, from assetbook) |
| `.assetbook/` | local state (git-ignored): Dagster, artifacts, reports, MLflow, landed files |
| `.github/workflows/` | the pull-request check |

## First run

Where `assetbook init` ran, assetbook is installed already (in a new environment,
`pip install -e .` installs it as `pyproject.toml` names it).

```bash
assetbook run        # lands 7 simulated days, trains, promotes and serves on 127.0.0.1:3030
assetbook status     # what is materialized, stale or late, the champion and the served version
```

## Your data, your notebooks

- Drop daily files named `<day>.parquet` or `<day>.csv` into
  `.assetbook/landing/raw_applications/`. Each file is one partition; `assetbook run` only
  simulates days while fewer than `--days` are there.
- Edit `notebooks/*.ipynb` and `assets/loans.yaml`: an edited notebook or spec
  re-materializes that asset and everything below it.
- `assetbook dev` opens the Dagster UI on http://127.0.0.1:3000, with the landing sensor
  and the automation running.
"""

GITIGNORE = ".assetbook/\n"


def template_root() -> Path:
    """The checkout the installed `project` package comes from."""
    root = Path(assetbook.__file__).resolve().parent.parent
    missing = [t for t in TEMPLATES if not (root / t).is_file()]
    if missing:
        raise AssetbookError(
            f"the project templates are not beside the installed package in {root} (missing: "
            f"{', '.join(missing)}); `assetbook init` needs assetbook installed from a checkout "
            "with `pip install -e <checkout>`")
    return root


def assetbook_requirement() -> str:
    """`assetbook @ file:///...` when installed from a local folder, so that `pip install -e .`
    of the scaffold finds it without an index; else plain `assetbook`."""
    direct = importlib.metadata.distribution("assetbook").read_text("direct_url.json")
    url = json.loads(direct).get("url", "") if direct else ""
    return f"assetbook @ {url}" if url.startswith("file://") else "assetbook"


def project_name(folder: Path) -> str:
    """A valid distribution name from the folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", folder.name).strip("-._") or "assetbook-project"


def scaffold(target: Path) -> list[Path]:
    """Write a new project into `target` (absent or empty); returns the files it created."""
    target = target.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AssetbookError(f"{target} is not an empty folder: choose a new path, "
                             "`assetbook init` never overwrites")
    source = template_root()
    name = project_name(target)
    created = [_copy(source / template, target / template) for template in TEMPLATES]
    written = {
        "pyproject.toml": PYPROJECT.format(name=name,
                                           requirement=json.dumps(assetbook_requirement())),
        "README.md": README.format(name=name),
        ".gitignore": GITIGNORE,
    }
    for relative, text in written.items():
        (target / relative).write_text(text)
        created.append(target / relative)
    return created


def _copy(source: Path, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    return destination
