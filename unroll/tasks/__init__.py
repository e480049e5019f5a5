"""Tasks: one module per task (its data format, batches, model factory, metrics, predict).

``TASKS`` maps each ``--task`` name to the module that defines it; the module is imported on first use
and names its Task subclass ``TASK``. The protocol a task follows, with a worked example, is in
``unroll.tasks.base``. To add a task: write ``unroll/tasks/NAME.py`` ending in ``TASK = NameTask`` and add
one line here. The CLI, the trainer and the run folders need no change.

A task published by another package registers itself through the entry-point group ``unroll.tasks``
(ENTRY_POINTS); in its pyproject.toml::

    [project.entry-points."unroll.tasks"]
    mean = "mean_task"                 # a module ending in TASK = MeanTask, or "mean_task:MeanTask"

and ``unroll train --task mean`` finds it once the package is installed. Inside one process,
``register_task(name, module)`` does the same.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from unroll.tasks.base import GeneratedBatches, Task

TASKS: dict[str, str] = {
    "lm": "unroll.tasks.lm",                # next-token language model (truncated BPTT): the default
    "longterm": "unroll.tasks.longterm",    # adding / copying-memory problems
    "classify": "unroll.tasks.classify",    # many-to-one: a label per sequence
    "tag": "unroll.tasks.tag",              # aligned many-to-many: a tag per token
    "generate": "unroll.tasks.generate",    # one-to-many: a sequence from a label or a vector
    "seq2seq": "unroll.tasks.seq2seq",      # encoder-decoder on source<TAB>target pairs
    "forecast": "unroll.tasks.forecast",    # time series: direct or autoregressive Gaussian forecasts
}
DEFAULT_TASK = "lm"
ENTRY_POINTS = "unroll.tasks"       # the entry-point group of tasks published by other packages


def _installed() -> None:
    """Add the tasks that installed packages publish under ENTRY_POINTS (the package's own names win)."""
    for point in entry_points(group=ENTRY_POINTS):
        TASKS.setdefault(point.name, point.value)


_installed()


def get_task(name: str) -> type[Task]:
    """The Task subclass registered as ``name``, or a one-line error listing the names."""
    if name not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    module, _, attribute = TASKS[name].partition(":")
    task = getattr(importlib.import_module(module), attribute or "TASK")
    if task.name != name:
        raise ValueError(f"{TASKS[name]}.TASK is named {task.name!r}, registered as {name!r}")
    return task


def register_task(name: str, module: str) -> None:
    """Register a task module outside the package: "module" (``module.TASK`` is the Task subclass) or
    "module:Class"."""
    TASKS[name] = module


__all__ = ["DEFAULT_TASK", "ENTRY_POINTS", "GeneratedBatches", "TASKS", "Task", "get_task", "register_task"]
