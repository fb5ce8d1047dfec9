"""The smallest service a deploy accepts: it answers the probe (POST /answer) with its model
version, or, given a cause, fails with it as a served model whose inputs do not match does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assetbook.runners.serving.deployment import Deployer, Probe, free_port

SERVICE = "echo:Echo"  # what a deploy of it names as its bento

ECHO = """import bentoml


@bentoml.service
class Echo:
    @bentoml.api
    def answer(self, ping: int = 0) -> dict:
        return {"model_version": "2"}
"""
BROKEN = ECHO.replace('return {"model_version": "2"}',
                      'raise KeyError("[\'area_growth\'] not in index")')


def echo_deployer(tmp_path: Path, service: str = ECHO, **options: Any) -> Deployer:
    """The deployer of `tmp_path/deployment`, the folder its servers run in, which holds the
    service."""
    folder = tmp_path / "deployment"
    folder.mkdir(exist_ok=True)
    (folder / "echo.py").write_text(service)
    return Deployer(folder, free_port(), tmp_path / "bentoml", Probe("/answer", {}), **options)
