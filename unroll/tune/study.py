"""A study folder and the Optuna study in it: what it searches, where it is stored, how trials are run.

A study folder (``unroll tune --out STUDY``)::

    tune.json        the study: task, fixed flags, search, trial time, budget, trials, metric and direction,
                     pruner, sampler seed, storage (null: study.db here), study name, the working directory
    study.db         Optuna's SQLite storage (without --storage): every trial, its parameters, its
                     intermediate values, its state; a finished trial is in it the moment it finishes
    lock             held by the tune process running the study (the flock of unroll/runs/lock.py)
    trials/NNNN/     trial NNNN's run folder (unroll/tune/objective.py)
    report.png       written by ``unroll tune STUDY --report`` (unroll/tune/report.py)

``run`` runs trials until ``--trials`` of them have finished (complete, pruned, or failed with a reason)
or the next trial would end past ``--budget`` seconds (or MAX_FAILURES trials in a row failed): in this process (``--jobs 1``) or in N worker
processes (``python -m unroll.tune.worker``) sharing the storage; a worker ends itself when the tune
process dies (its standard input closes), so a kill -9 leaves no trial training. ``recover`` (on
``--resume``): with the study's own SQLite file, trials still marked RUNNING were left by a killed
process (the lock says no other runs here) and become FAIL; every trial that failed without a reason
(killed, Ctrl-C) has its parameters enqueued once more (user attribute "retry_of"). With ``--storage
URL`` (several machines) Optuna's heartbeat does this instead: a trial silent for 3 minutes fails and
is retried once (RetryFailedTrialCallback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

from unroll.tune.folder import DB, FORMAT, INFO, optuna, read_info, write_info  # noqa: F401 (the folder's own)

HEARTBEAT, GRACE = 60, 180
MAX_FAILURES = 3         # trials in a row that fail with a reason stop the study (bad data ...)


def lock(study_dir: Path) -> None:
    """One tune process per study folder (its workers run under it)."""
    from unroll.runs import lock as flock
    flock.acquire(study_dir, "study")


def storage(study_dir: Path, info: dict):
    """The study's storage: study.db in its folder, or the shared --storage URL (with heartbeats)."""
    opt = optuna()
    if info.get("storage"):
        warnings.filterwarnings("ignore", category=opt.exceptions.ExperimentalWarning)   # the heartbeat's
        retry = getattr(opt.storages, "RetryHeartbeatStaleTrialCallback", None)         # Optuna >= 4.9
        callback = ({"heartbeat_stale_trial_callback": retry(max_retry=1)} if retry else
                    {"failed_trial_callback": opt.storages.RetryFailedTrialCallback(max_retry=1)})
        return opt.storages.RDBStorage(info["storage"], heartbeat_interval=HEARTBEAT, grace_period=GRACE, **callback)
    url = f"sqlite:///{(Path(study_dir) / DB).resolve()}"
    return opt.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})


def open_study(study_dir: Path, info: dict, worker: int = 0):
    """The Optuna study (created on first use), its sampler seeded by --sampler-seed + worker."""
    opt = optuna()
    seed = info.get("sampler_seed")
    sampler = opt.samplers.TPESampler(seed=None if seed is None else seed + worker)
    pruner = (opt.pruners.MedianPruner(n_startup_trials=info["startup_trials"]) if info["pruner"] == "median"
              else opt.pruners.NopPruner())
    return opt.create_study(storage=storage(study_dir, info), study_name=info["study_name"], sampler=sampler,
                            pruner=pruner, direction="maximize" if info["mode"] == "max" else "minimize",
                            load_if_exists=True)


def finished(study) -> int:
    """Trials that count towards --trials: complete, pruned, or failed with a reason."""
    states = optuna().trial.TrialState
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (states.COMPLETE, states.PRUNED) or (t.state == states.FAIL and "error" in t.user_attrs))


def recover(study, info: dict) -> list[int]:
    """On --resume: fail the trials a killed process left RUNNING (own SQLite only), enqueue once more the
    parameters of every trial that failed without a reason; the numbers of the trials enqueued again."""
    states = optuna().trial.TrialState
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    again = []
    for t in trials:
        if t.state == states.RUNNING and not info.get("storage"):
            store = study._storage
            store.set_trial_state_values(store.get_trial_id_from_study_id_trial_number(study._study_id, t.number),
                                         states.FAIL)
        elif t.state != states.FAIL or "error" in t.user_attrs:
            continue
        if t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            again.append(t.number)
    return again


def optimize(study_dir: Path, info: dict, params: list, deadline: float | None, trials: int | None,
             worker: int = 0, say=None) -> None:
    """Run trials in this process until --trials have finished or the next would end past the deadline."""
    from unroll.train.trainer import TrainingDiverged
    from unroll.tune.objective import run_trial
    study = open_study(study_dir, info, worker)
    span, failures = info.get("trial_time") or 0.0, []

    def after(study, trial):
        failures[:] = failures + [trial.user_attrs["error"]] if "error" in trial.user_attrs else []
        if say:
            say(study, trial)
    while (trials is None or finished(study) < trials) and (deadline is None or time.time() + span < deadline):
        study.optimize(lambda trial: run_trial(trial, study_dir, info, params), n_trials=1,
                       catch=(ValueError, OSError, TrainingDiverged), callbacks=[after])
        if len(failures) >= MAX_FAILURES:
            raise ValueError(f"{MAX_FAILURES} trials in a row failed, the last with: {failures[-1]}")


def run(study_dir: Path, info: dict, params: list, jobs: int, deadline: float | None, trials: int | None,
        say=None) -> None:
    """The study's trials, in this process (jobs 1) or in ``jobs`` worker processes."""
    if jobs == 1:
        optimize(study_dir, info, params, deadline, trials, say=say)
        return
    command = [sys.executable, "-m", "unroll.tune.worker", str(study_dir), repr(deadline), repr(trials)]
    workers = [subprocess.Popen([*command, str(k)], stdin=subprocess.PIPE, cwd=info["cwd"]) for k in range(jobs)]
    try:
        codes = [w.wait() for w in workers]
    except KeyboardInterrupt:                          # the workers got the Ctrl-C too: let them checkpoint
        for w in workers:
            w.wait()
        raise
    if any(codes):
        raise ValueError(f"a tune worker failed (exit status {max(codes)}); its error is above")


def watch_parent() -> None:
    """In a worker: end this process when the tune process that started it dies (stdin reaches EOF)."""
    import signal
    import threading

    def wait():                                   # unbuffered: no lock held at the interpreter's shutdown
        while os.read(0, 4096):
            pass
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=wait, daemon=True).start()
