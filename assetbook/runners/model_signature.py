"""A model class's constructor parameters, read from its source without importing it.

The search checks its space against the model before Ray starts. Importing the class for that
would import PyTorch and Lightning into the search's driver (~4.6 s on the critical path, and
~300 MiB held beside the trials) only to read a signature, when each trial imports them anyway.
"""

from __future__ import annotations

import ast

from assetbook.spec.module_source import ModuleSourceError, module_source, parsed


def init_parameters(reference: str) -> frozenset[str] | None:
    """The keyword parameters of `module:Class`'s `__init__`, where its source says them
    plainly: a class defined at the top of its module, undecorated, with an `__init__` of its
    own that takes no `**kwargs`. None otherwise: the caller imports the class instead."""
    module_name, _, name = reference.partition(":")
    try:
        tree = parsed(module_source(module_name))
    except (ModuleSourceError, ImportError, ValueError, OSError, SyntaxError):
        return None
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name]
    if len(classes) != 1 or classes[0].decorator_list:
        return None
    inits = [node for node in classes[0].body
             if isinstance(node, ast.FunctionDef) and node.name == "__init__"]
    if len(inits) != 1 or inits[0].decorator_list:
        return None
    arguments = inits[0].args
    if arguments.kwarg or arguments.posonlyargs or not arguments.args:
        return None
    return frozenset(a.arg for a in [*arguments.args[1:], *arguments.kwonlyargs])
