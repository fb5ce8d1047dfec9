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


def test_each_command_says_what_it_does_and_takes_verbose_after_its_name() -> None:
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert [name for name, sub in commands.choices.items() if not sub.description] == []
    assert parser.parse_args(["run", "-v"]).verbose and parser.parse_args(["-v", "run"]).verbose
    assert not parser.parse_args(["run"]).verbose
