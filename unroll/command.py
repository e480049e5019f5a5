"""One `unroll NAME` command, declared the one way every module declares its commands.

A module that offers commands lists them in a module-level ``COMMANDS`` tuple (a task: in its class's
``commands``); ``unroll.cli.COMMAND_MODULES`` names those modules, once. A command is::

    Command(name, help, arguments, run, description=None, needs="", kind="command")

    arguments(parser)     adds the command's options to its argparse parser
    run(args)             does the work; returns the exit status (None: 0); a ValueError is the CLI's
                          one-line error, exit status 2
    needs="run"           run(args, loaded): the run folder args.run_dir, loaded for it (unroll.runs.load:
                          task, model, info, folder), so a command never imports the run machinery itself
    needs="runs"          run(args, runs): the unroll.runs module (start, summarise, experiment ...), for a
                          command that trains
    kind="data"           a kind of `unroll data NAME` (a data set maker) rather than a command of its own

Worked example (a task's own command that reads a run)::

    def _arguments(p):
        p.add_argument("run_dir", type=Path)

    def _run(args, loaded):
        print(loaded.info["step"])

    class MyTask(Task):
        commands = (Command("steps", "print a run's step", _arguments, _run, needs="run"),)

This module imports nothing of the package, so every floor may declare commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

NEEDS = ("", "run", "runs")
KINDS = ("command", "data")


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable
    run: Callable
    description: str | None = None
    needs: str = ""
    kind: str = "command"

    def __post_init__(self):
        if self.needs not in NEEDS:
            raise ValueError(f"command {self.name}: needs must be one of {NEEDS}, got {self.needs!r}")
        if self.kind not in KINDS:
            raise ValueError(f"command {self.name}: kind must be one of {KINDS}, got {self.kind!r}")
