"""A run folder's task and model, rebuilt from config.json and a checkpoint: ``RunFolder.task`` and ``load``.

Functions of a folder object (``RunFolder``; this module does not import it, so the folder can call it):
``read_task(folder)`` -> (Task, config.json dict); ``build_model(task, train)`` the task's fresh model in
the run's --dtype; ``load(folder, which, newest_good, dtype)`` -> (task, model, info) with a checkpoint's
weights, "step" and "checkpoint" in info.
"""

from __future__ import annotations

import sys

import numpy as np

from unroll.config import TrainConfig, from_dict
from unroll.runs import checkpoint
from unroll.tasks import get_task

META = ("format", "unroll_version", "created", "task", "train")
BEST = "best"        # the best checkpoint's folder, by the task's validation metric (Task.monitor)
CHECKPOINTS = ("best", "last")
TRIES = 3          # a training process may prune a checkpoint between reading ``latest`` and its files


def read_task(folder):
    """(the run's Task, built from its settings and prepared data, the config.json dict)."""
    info = folder.read_config()
    try:                                                 # a damaged config.json: one line naming it
        task_cls = get_task(info["task"])
        for name in getattr(task_cls, "optional_sections", ()):      # a section added after the run was made
            info.setdefault(name, {})
        for name, values in getattr(task_cls, "absent_settings", {}).items():     # what an older run ran with
            if isinstance(info.get(name), dict):
                info[name] = {**values, **info[name]}
        for name in ("train", *task_cls.sections):
            if not isinstance(info.get(name), dict):
                raise ValueError(f"section '{name}' must be a JSON object, got {type(info.get(name)).__name__}")
        settings = {"train": from_dict(TrainConfig, info["train"])}
        settings.update({name: from_dict(cls, info[name]) for name, cls in task_cls.sections.items()})
        prepared = {k: v for k, v in info.items() if k not in META and k not in task_cls.sections}
        task = task_cls(settings, prepared)
        task.check_prepared()
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as err:
        kind = "" if isinstance(err, ValueError) else type(err).__name__ + " "
        path = folder.path / "config.json"
        raise ValueError(f"run configuration {path} is damaged: {kind}{err}".replace("\n", "\\n")) from None
    if hasattr(task, "stored"):                          # what the task keeps in result.json (the forecast
        task.stored(folder.read_result())                # task's conformal tables; a damaged file names itself)
    return task, info


def build_model(task, train: TrainConfig, dtype=None):
    """The task's fresh model, in ``dtype``, else the run's --dtype, else the task's default precision."""
    dtype = dtype if dtype is not None else train.dtype
    if dtype is None:
        return task.build_model(train.seed)
    return task.build_model(train.seed, np.dtype(dtype).type)


def load(folder, which: str = "last", newest_good: bool = True, dtype=None):
    """(task, model, info) of checkpoint ``which`` (see ``RunFolder.load``)."""
    if which not in CHECKPOINTS:
        raise ValueError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}, got {which!r}")
    task, info = read_task(folder)
    train = task.settings["train"]
    model = build_model(task, train, dtype)
    expected = {k: v.shape for k, v in model.params.items()}
    use_best = which == "best" and folder.has_best()
    where, named = _read(folder, folder.path / BEST if use_best else folder.path, expected, newest_good)
    saved = {v.dtype for v in named["model"][0].values()}
    if dtype is None and len(saved) == 1 and saved != {v.dtype for v in model.params.values()}:
        model = build_model(task, train, saved.pop())                 # the checkpoint's precision
    for key, value in named["model"][0].items():
        model.params[key][...] = value
    info.update(step=named["counters"][1]["step"], checkpoint="best" if use_best else "last",
                checkpoint_folder=where.name)
    return task, model, info


def _read(folder, root, expected: dict, newest_good: bool):
    """(checkpoint folder, {component: (arrays, scalars)}) of the latest checkpoint under ``root``, or with
    newest_good the newest one that verifies (a warning for each damaged one passed over)."""
    if not newest_good:
        where = checkpoint.latest(root)
        try:
            return where, checkpoint.read(where, expected)
        except ValueError as err:
            raise ValueError(f"{err}{_older_good_hint(root, expected)}") from None
    for attempt in range(TRIES):
        try:
            where, named, skipped = checkpoint.find_good(root, expected)
            break
        except ValueError:
            if attempt == TRIES - 1:
                raise
    if where is None:
        raise ValueError(f"run {folder.path.name} has no checkpoint yet")
    for reason in skipped:
        print(f"unroll: warning: {reason}", file=sys.stderr)
    return where, named


def _older_good_hint(root, expected: dict) -> str:
    try:
        folder, _, _ = checkpoint.find_good(root, expected)
    except ValueError:
        return ""
    return f"; the older checkpoint {folder.name} is intact (unroll train --resume falls back to it)" if folder else ""
