"""The command line is for people: every command and every flag says what it is for."""

from __future__ import annotations

import argparse

from assetbook.cli.parser import build_parser


def undocumented(parser: argparse.ArgumentParser, name: str) -> list[str]:
    missing = []
    for action in parser._actions:
        if not action.help:
            missing.append(f"{name} {action.dest}")
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                missing += undocumented(sub, f"{name} {command}")
    return missing


def test_every_command_and_flag_has_help_text() -> None:
    assert undocumented(build_parser(), "assetbook") == []
