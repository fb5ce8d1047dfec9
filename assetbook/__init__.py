"""Assetbook: notebooks and YAML specs as a Dagster asset graph.

`from assetbook import load` reads an asset's stored value in a notebook or a REPL, and
`load_model("champion")` the model version an alias names. Each is imported on first use,
so `import assetbook` stays cheap for the CLI, the serving runtime and the code location.
"""

import sys
from typing import Any

# jsonschema (under nbformat, so in every process that reads a notebook) compiles the 38
# grammars of rfc3987-syntax, which Jupyter's server pulls in, when it is imported: a second
# per process, for the "iri" string format that no notebook schema uses. Marked absent,
# jsonschema leaves that one format unchecked.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

__all__ = ["load", "load_model"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from assetbook.values import load

        return load
    if name == "load_model":
        from assetbook.registered import load_model

        return load_model
    raise AttributeError(f"module 'assetbook' has no attribute '{name}'")
