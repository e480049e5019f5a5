"""One trial of a study: an ordinary `unroll train` run folder, STUDY/trials/NNNN, whose validations feed
Optuna's pruner.

The trial's command line is the study's fixed flags, the sampled parameters and ``--max-time
TRIAL_TIME`` (``trial_argv``; kept as the trial's user attribute "argv", so the report prints it as an
`unroll train` command). Its run is started and trained as `unroll train` does (``unroll.runs.start``),
with one more metrics sink (``Pruning``): each validation's value of the task's metric is reported to
Optuna at its step, and when the pruner says stop, the sink returns the reason, the trainer stops after
that step (unroll/train/trainer.py) and the run folder's metrics.jsonl says ``{"event": "stop", "message":
"pruned by unroll tune: ..."}``. eval, predict, resume and serve work on every trial's folder.

The trial's value is the best validation value of the run (the best checkpoint's), else its last one.
A trial whose run refuses its settings or diverges fails with its reason (user attribute "error"); one
stopped by Ctrl-C or SIGTERM fails without one, so ``--resume`` runs its settings again.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from unroll.tune.folder import TRIALS, trial_folder  # noqa: F401 (re-exported: the study folder's layout)


def trial_argv(info: dict, params: list, values: dict) -> list[str]:
    """The `unroll train` arguments of one trial (without --out): --task, the fixed flags, the parameters."""
    argv = ["--task", info["task"], *info["fixed"]]
    for param in params:
        argv += param.argv(values[param.name])
    if info.get("trial_time") is not None:
        argv += ["--max-time", f"{info['trial_time']:g}"]
    return argv


class Pruning:
    """A trainer metrics sink: report valid_<metric> at each validation; a reason to stop when pruned."""

    def __init__(self, trial, metric: str):
        self.trial, self.key = trial, f"valid_{metric}"

    def __call__(self, record: dict):
        value = record.get(self.key)
        if "event" in record or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        self.trial.report(float(value), int(record["step"]))
        if self.trial.should_prune():
            return (f"pruned by unroll tune: {self.key} {value:.6g} at step {record['step']} is worse than "
                    f"the pruner allows (study trial {self.trial.number})")
        return None


def run_trial(trial, study_dir: Path, info: dict, params: list) -> float:
    """Train one trial's run folder; its value, or optuna.TrialPruned."""
    import optuna
    from unroll import runs
    from unroll.train.trainer import TrainingDiverged
    from unroll.tune.spec import train_settings
    values = {p.name: p.suggest(trial) for p in params}
    argv = trial_argv(info, params, values)
    out = trial_folder(study_dir, trial.number)
    trial.set_user_attr("argv", argv)
    trial.set_user_attr("run", str(out))
    trial.set_user_attr("pid", os.getpid())
    try:
        settings, train = train_settings(info["task"], argv)
        trainer = runs.start(out, info["task"], settings, train, quiet=True)
        pruning = Pruning(trial, info["metric"])
        trainer.sinks.append(pruning)
        with runs.run.first_start(trainer):
            record = trainer.train()
    except (ValueError, OSError, TrainingDiverged) as err:
        trial.set_user_attr("error", str(err).replace("\n", " "))
        raise
    if trainer.stop_signal is not None:                  # Ctrl-C / SIGTERM: the study stops here
        raise KeyboardInterrupt
    runs.summarise(trainer)
    trial.set_user_attr("step", trainer.counters["step"])
    trial.set_user_attr("elapsed", round(trainer.counters["elapsed"], 3))
    if trainer.stop_requested:
        raise optuna.TrialPruned(f"stopped at step {trainer.counters['step']}")
    try:
        return _value(trainer, record, info["metric"])
    except ValueError as err:
        trial.set_user_attr("error", str(err))
        raise


def _value(trainer, record: dict, metric: str) -> float:
    best, last = trainer.counters["best"], record.get(f"valid_{metric}")
    value = best if best is not None else last
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"the run logged no finite valid_{metric}: unroll tune needs a validation split "
                         f"(leave --valid none out)")
    return float(value)
