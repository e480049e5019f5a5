"""Runs of a task in a run folder: start a training run, resume one, load one for eval, predict and sampling.

``config.json`` (format 3, written and read by ``RunFolder``) records::

    {"format": 3, "unroll_version": ..., "created": ..., "task": "lm",
     "train": {TrainConfig}, "<section>": {the task's settings, one dict per section}, ...,
     "<key>": ... what the task's prepare() returned (the language model: "data", "vocab")}

This is the one module that joins the task registry, the trainer and the run folder.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from unroll._version import __version__  # noqa: F401  (re-exported for callers that stamp files)
from unroll.config import TrainConfig, from_dict, to_dict
from unroll.runs.folder import FORMAT, META, RunFolder
from unroll.tasks import get_task
from unroll.train import distributed
from unroll.runs.changes import record_changes
from unroll.runs.first_start import RESERVED, absolute_paths, first_start, new_run_folder
from unroll.train.trainer import Trainer, TrainingDiverged

__all__ = ["FORMAT", "LoadedRun", "build_model", "default_out_dir", "first_start", "limit_reached", "load", "read_config", "read_task",
           "experiment", "resume", "run_folder", "start", "summarise"]


class LoadedRun:
    """A run folder loaded for eval, predict, sample, export ...; unpacks as ``task, model, info``.

    task: the run's Task, rebuilt from config.json; model: its model with the latest checkpoint's weights;
    info: config.json (upgraded), with "step", the checkpoint's step; folder: the RunFolder
    """

    def __init__(self, task, model, info: dict, folder: RunFolder):
        self.task, self.model, self.info, self.folder = task, model, info, folder

    def __iter__(self):
        return iter((self.task, self.model, self.info))

    def __getitem__(self, index):
        return (self.task, self.model, self.info)[index]


def start(out_dir: Path, task_name: str, settings: dict, train: TrainConfig, quiet: bool = False) -> Trainer:
    """Create a new run folder and its Trainer. settings: {section: dataclass} of the task's sections.

    Everything that can fail on bad input (the data, the validation file, the split across processes) is
    checked before the folder exists; ``first_start`` removes the folder if training still fails early.
    """
    folder = RunFolder(out_dir)
    if folder.exists():
        raise ValueError(f"--out {out_dir} already holds a run; use --resume {out_dir} to continue it")
    if folder.path.exists() and not folder.path.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder")
    world = distributed.world()
    if world.size > train.batch_size:
        raise ValueError(f"--batch {train.batch_size} leaves some of the {world.size} processes no sequence; "
                         f"give --batch {world.size} or more")
    settings = {name: absolute_paths(value) for name, value in settings.items()}
    task = get_task(task_name)({"train": train, **settings})
    if task.init_from():                              # --init-from RUN: that run's best weights start this one
        task.pretrained = load(task.init_from(), "best")
    prepared = task.prepare()
    clash = sorted(set(prepared) & (set(META) | set(task.sections)))
    if clash:
        raise ValueError(f"task {task_name}: prepare() returned the reserved key(s) {', '.join(clash)}")
    model = build_model(task, train)
    task.warm_start(model)                            # --init-from: weights of a pretrained run
    trainer = Trainer(folder, task, model, train, quiet=quiet)   # checks the batches: nothing is written yet
    task.check_data()                                 # the --valid file too
    if world.size > 1:
        task.shard(next(task.batches(train)), world.rank, world.size)
    trainer.new_folder = not folder.path.exists() or folder.path.resolve() in RESERVED
    with first_start(trainer):
        folder.create({"task": task_name, "train": to_dict(train),
                       **{name: to_dict(task.settings[name]) for name in task.sections}, **prepared})
    return trainer


def resume(run_dir: Path, changes: dict | None = None, quiet: bool = False) -> Trainer:
    """Rebuild a run's Trainer from its folder and latest checkpoint.

    changes: {TrainConfig field: value} of the fields a resumed run may change (train/changes.py). A new
    budget replaces both old ones (--max-steps alone trains to that step with no time limit).
    """
    folder = RunFolder.named(run_dir)
    task, info = read_task(folder)
    if info.get("imported"):
        raise ValueError(f"run folder {run_dir} was imported from {info['imported']}; it can be sampled and "
                         "evaluated, not resumed")
    old = task.settings["train"]
    changes = dict(changes or {})
    if "max_steps" in changes or "max_time" in changes:
        changes = {"max_steps": None, "max_time": None, **changes}
    train = replace(old, **changes)
    changed = {k: [getattr(old, k), getattr(train, k)] for k in changes if getattr(old, k) != getattr(train, k)}
    task.settings["train"] = train
    model = build_model(task, train)
    trainer = Trainer(folder, task, model, train, quiet=quiet)
    folder.lock()                                        # before reading: a second process stops here
    try:
        folder.restore_newest_good(trainer.components())
        if changed and trainer.world.rank == 0:
            record_changes(trainer, info, changed)
    except BaseException:
        folder.release()
        raise
    return trainer


def build_model(task, train: TrainConfig):
    """The task's fresh model, in --dtype when the run gave one (else the task's default precision)."""
    if train.dtype is None:
        return task.build_model(train.seed)
    return task.build_model(train.seed, np.dtype(train.dtype).type)


CHECKPOINTS = ("best", "last")


def load(run_dir: Path, which: str = "last") -> LoadedRun:
    """(task, model with a checkpoint's weights, run info with "step" and "checkpoint") for eval, predict, sample.

    which: "last" (the latest checkpoint) or "best" (best/, the best by the task's validation metric; the
    latest when the run has kept none yet, e.g. no scheduled validation so far). The model keeps the
    checkpoint's precision.
    """
    if which not in CHECKPOINTS:
        raise ValueError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}, got {which!r}")
    folder = RunFolder.named(run_dir)
    task, info = read_task(folder)
    model = build_model(task, task.settings["train"])
    expected = {k: v.shape for k, v in model.params.items()}
    use_best = which == "best" and folder.has_best()
    named = folder.read_best(expected) if use_best else folder.read_latest(expected)
    saved = {v.dtype for v in named["model"][0].values()}
    if len(saved) == 1 and saved != {v.dtype for v in model.params.values()}:   # keep the checkpoint's precision
        model = task.build_model(task.settings["train"].seed, saved.pop().type)
    for key, value in named["model"][0].items():
        model.params[key][...] = value
    info["step"] = named["counters"][1]["step"]
    info["checkpoint"] = "best" if use_best else "last"
    return LoadedRun(task, model, info, folder)


def summarise(trainer) -> dict:
    """The task's summary of a finished run (``Task.summary``), written to result.json when not empty."""
    summary = trainer.task.summary(trainer.model, trainer.folder.metrics())
    if summary:
        trainer.folder.write_result(summary)
    return summary


def experiment(task_name: str, settings: dict, train: TrainConfig, out: Path | None = None, quiet: bool = True):
    """Start a run in ``out`` (a temporary folder, removed afterwards, when None), train it (a divergence ends it
    but still gets a summary), write result.json; return (the summary, the trained model)."""
    with tempfile.TemporaryDirectory(prefix="unroll-experiment-") as tmp:
        trainer = start(out if out is not None else Path(tmp) / "run", task_name, settings, train, quiet=quiet)
        try:
            trainer.train()
        except TrainingDiverged as err:
            trainer.progress.say(str(err))
        return summarise(trainer), trainer.model


def read_task(folder: RunFolder | Path):
    """(the run's Task, built from its settings and prepared data, the config.json dict)."""
    folder = folder if isinstance(folder, RunFolder) else RunFolder.named(folder)
    info = folder.read_config()
    try:                                                 # a damaged config.json: one line naming it
        task_cls = get_task(info["task"])
        for name in getattr(task_cls, "optional_sections", ()):      # a section added after the run was made
            info.setdefault(name, {})
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
    return task, info


def run_folder(path: Path) -> Path:
    """The run folder a user named (see RunFolder.named)."""
    return RunFolder.named(path).path


def read_config(run_dir: Path) -> dict:
    """config.json of a run folder, upgraded to the current format."""
    return RunFolder.named(run_dir).read_config()


def limit_reached(trainer: Trainer) -> str | None:
    """Why a (resumed) run would not train another step: its --max-steps or --max-time is used up; else None."""
    c, cfg = trainer.counters, trainer.config
    if cfg.max_steps is not None and c["step"] >= cfg.max_steps:
        return f"it reached its limit of --max-steps {cfg.max_steps} (step {c['step']})"
    if cfg.max_time is not None and c["elapsed"] >= cfg.max_time:
        return f"it reached its limit of --max-time {cfg.max_time:g} s ({c['elapsed']:.1f} s trained)"
    if trainer.patience_used_up():
        return (f"it stopped early: {c['bad_evals']} validations without improvement (--patience {cfg.patience}, "
                f"best at step {c['best_step']})")
    return None


def default_out_dir(label: str) -> Path:
    """runs/<time>-<label> (-2, -3 ... when a run started in the same second took it); see first_start.py."""
    return new_run_folder(label)
