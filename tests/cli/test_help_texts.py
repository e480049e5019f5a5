"""Every option and positional argument of every command has a help text (issue #21), for every task."""

import argparse

import pytest

from unroll.cli import build_parser
from unroll.tasks import TASKS


def walk(parser, path=("unroll",)):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, path + (name,))
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield " ".join(path), action


@pytest.mark.parametrize("task", list(TASKS))
def test_every_option_has_help(task):
    missing = sorted({f"{where} {(action.option_strings or [action.dest])[0]}"
                      for where, action in walk(build_parser(task)) if not (action.help or "").strip()})
    assert missing == []
