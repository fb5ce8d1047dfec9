"""`assetbook init`: a new project folder that runs end to end with `assetbook run`, either the
loans example or a project on the user's own daily files."""

from assetbook.scaffold.example import scaffold_example
from assetbook.scaffold.tabular import scaffold_tabular

__all__ = ["scaffold_example", "scaffold_tabular"]
