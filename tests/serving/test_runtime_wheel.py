"""The serving runtime a bento carries is small and stands alone: its wheel holds only the
runtime's files, and importing it from that wheel alone pulls in no Dagster, Ray or MLflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from assetbook.runners.serving.wheels import RUNTIME_NAME, runtime_wheel

CHECK = """
import json, os, sys
import assetbook.models, assetbook.serving.service
print(json.dumps({
    "outside": sorted(name for name, module in sys.modules.items()
                      if name.partition(".")[0] == "assetbook"
                      and not module.__file__.startswith(os.getcwd())),
    "heavy": sorted({"dagster", "ray", "mlflow"} & set(sys.modules))}))
"""


def test_the_runtime_wheel_imports_alone_without_dagster_ray_or_mlflow(tmp_path: Path) -> None:
    wheel = runtime_wheel(tmp_path / "wheels")
    assert wheel.name.startswith(RUNTIME_NAME.replace("-", "_"))
    with zipfile.ZipFile(wheel) as archive:
        modules = sorted(n for n in archive.namelist() if n.endswith(".py"))
        archive.extractall(tmp_path / "site")
    assert "assetbook/serving/service.py" in modules and "assetbook/models.py" in modules
    assert not [m for m in modules if m.startswith(("assetbook/graph", "assetbook/runners",
                                                    "assetbook/cli", "assetbook/spec"))]
    # The wheel's files first on the path; a module the wheel lacks would still come from
    # the checkout (the editable install's finder), so where each one came from is checked.
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=tmp_path / "site",
                            env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == {"outside": [], "heavy": []}
