"""Is a run finished? The one answer, for ``RunFolder.state`` (the runs table) and ``train --resume``.

A run is finished when it wrote result.json, when its budget is used up (--max-steps, --max-time),
when --patience validations passed without improvement, or when the task's own criterion (``Task.done``,
e.g. seq2seq at exact match 1) holds for its last validation. The trainer's loop asks the same questions
of its live counters (``Trainer._done``); this module asks them of what the run folder recorded.
"""

from __future__ import annotations

import os

from unroll.runs import loading


def why_finished(train, last: dict, task=None) -> str | None:
    """Why a run with settings ``train`` (TrainConfig) and last counters / metrics record ``last`` (step,
    elapsed, bad_evals, best_step, valid_*) trains no further; None when it would."""
    step, elapsed = last.get("step") or 0, last.get("elapsed") or 0.0
    if train.max_steps is not None and step >= train.max_steps:
        return f"it reached its limit of --max-steps {train.max_steps} (step {step})"
    if train.max_time is not None and elapsed >= train.max_time:
        return f"it reached its limit of --max-time {train.max_time:g} s ({elapsed:.1f} s trained)"
    bad = last.get("bad_evals")
    if train.patience is not None and isinstance(bad, int) and bad >= train.patience:
        return (f"it stopped early: {bad} validations without improvement (--patience {train.patience}, "
                f"best at step {last.get('best_step')})")
    valid = {k[len("valid_"):]: v for k, v in last.items() if k.startswith("valid_")}
    if task is not None and valid and task.done(valid):
        return "its task's own criterion holds for its last validation"
    return None



class CachedTask:
    """A run folder's ``Task.done``, the task read once per config.json (by its mtime) for many questions."""

    cache: dict = {}

    def __init__(self, folder):
        self.folder = folder

    def task(self):
        """The run's Task (read once per config.json mtime); OSError / ValueError when it cannot be read."""
        key = (str(self.folder.path), os.stat(self.folder.path / "config.json").st_mtime_ns)
        if key not in self.cache:
            if len(self.cache) > 1024:
                self.cache.clear()
            self.cache[key] = loading.read_task(self.folder)[0]
        return self.cache[key]

    def done(self, valid: dict) -> bool:
        try:
            return bool(self.task().done(valid))
        except (OSError, ValueError, TypeError, KeyError):
            return False

    def monitor(self) -> tuple[str, str]:
        """(metric, "min" | "max") the run's best checkpoint is chosen by; ("loss", "min") when unreadable."""
        try:
            return self.task().monitor()
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return "loss", "min"
