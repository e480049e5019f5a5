"""Tasks: one module per task (its data format, batches, model factory, metrics, predict).

``TASKS`` maps each ``--task`` name to the module that defines it; the module is imported on first use
and names its Task subclass ``TASK``. The protocol a task follows, with a worked example, is in
``unroll.tasks.base``. To add a task: write ``unroll/tasks/NAME.py`` ending in ``TASK = NameTask`` and add
one line here. The CLI, the trainer and the run folders need no change.
"""

from __future__ import annotations

import importlib

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


def get_task(name: str) -> type[Task]:
    """The Task subclass registered as ``name``, or a one-line error listing the names."""
    if name not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    task = importlib.import_module(TASKS[name]).TASK
    if task.name != name:
        raise ValueError(f"{TASKS[name]}.TASK is named {task.name!r}, registered as {name!r}")
    return task


def register_task(name: str, module: str) -> None:
    """Register a task module outside the package (``module.TASK`` is the Task subclass)."""
    TASKS[name] = module


__all__ = ["DEFAULT_TASK", "GeneratedBatches", "TASKS", "Task", "get_task", "register_task"]
