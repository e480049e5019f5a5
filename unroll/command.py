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

A task's page in ``unroll serve`` is declared the same way, as plain data: a module holds ``PAGE =
Page(section, script, calls, streams)`` and the task class names that module in one line (``page =
"unroll.tasks.probes.classify"``), so that serve only routes and a new task brings its page with it::

    def classify(task, model, body, limits):            # POST /api/run/NAME/classify, JSON in and out
        ...

    PAGE = Page(section="<input id='text'> <button id='classify'>classify</button> ...",
                script=Path(__file__).with_suffix(".js"), calls={"classify": classify})

The page's module is named, not imported, by the task (it may use ``unroll.analysis``, a floor above the
tasks); serve imports it when the page is first asked for (``unroll.tasks.probes.page_of``).

This module imports nothing of the package, so every floor may declare commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
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


@dataclass(frozen=True)
class Page:
    """A task's section of its run page in ``unroll serve`` and the API calls behind it.

    section: HTML of the section; script: the JavaScript file that drives it (served as
    /page/TASK.js); calls: {name: f(task, model, body, limits) -> JSON-able} (POST /api/run/NAME/name);
    streams: {name: (request(task, body, limits) -> checked request, pieces(task, model, request) ->
    iterator of str)}, answered as streamed text (sampling).
    """

    section: str
    script: Path
    calls: dict = field(default_factory=dict)
    streams: dict = field(default_factory=dict)
