"""The one root exception, so callers can catch everything Assetbook raises on purpose; and
the text of the errors Assetbook passes on."""

from __future__ import annotations

import re

_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain_text(text: str) -> str:
    """A message without the colour codes a kernel's or Ray's traceback holds for a terminal
    (in a log or an error message they are noise)."""
    return _TERMINAL_CODES.sub("", text)


class AssetbookError(Exception):
    """Base class of every error Assetbook raises deliberately."""


class SpecError(AssetbookError):
    """A spec file is malformed; the message names the file, the asset and the field."""

    def __init__(self, file: str, message: str, asset: str | None = None, field: str | None = None):
        self.file, self.asset, self.field = file, asset, field
        where = [file]
        if asset:
            where.append(f"asset '{asset}'")
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}")


class NotebookError(AssetbookError):
    """A notebook cell raised; carries the cell source and the kept executed notebook."""


class SourceError(AssetbookError):
    """A source partition (a landed file, a generator setting) cannot be read."""


class ArtifactError(AssetbookError):
    """An artifact is missing, or a key would leave the state folder."""


class StepTimeoutError(AssetbookError):
    """A step (a notebook, a training, a search) ran past its spec's `timeout`; its processes
    are stopped and the message says what was running."""

    def __init__(self, what: str, seconds: float, detail: str):
        self.what, self.seconds = what, seconds
        super().__init__(f"{what}: timed out after {seconds:g} s (the spec's `timeout`; raise "
                         f"it if the step needs longer); {detail}")
