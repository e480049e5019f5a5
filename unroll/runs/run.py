"""Runs of a task in a run folder: start a training run, resume one, load one for eval, predict and sampling.

``config.json`` (format 4, written and read by ``RunFolder``) records::

    {"format": 4, "unroll_version": ..., "created": ..., "task": "lm",
     "train": {TrainConfig}, "<section>": {the task's settings, one dict per section}, ...,
     "<key>": ... what the task's prepare() returned (the language model: "data", "vocab")}

This is the one module that joins the task registry, the trainer and the run folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from unroll._version import __version__  # noqa: F401  (re-exported for callers that stamp files)
from unroll.config import TrainConfig, to_dict
from unroll.runs import ending
from unroll.runs.folder import FORMAT, RunFolder
from unroll.runs.loading import CHECKPOINTS, META, build_model
from unroll.tasks import get_task
from unroll.train import distributed
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
        raise ValueError(_taken(folder, out_dir))
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


def _taken(folder: RunFolder, out_dir) -> str:
    """Why --out cannot start a run in a folder that holds one, and advice that works for its state."""
    state = folder.state()
    if state == "training":
        return (f"--out {out_dir} holds a run that another unroll process is training; give another --out "
                f"(or, once that process ends, `unroll train --resume {out_dir}` continues it)")
    if state == "finished":
        return (f"--out {out_dir} holds a finished run; give another --out for a new run (or extend it: "
                f"`unroll train --resume {out_dir} --max-steps N`)")
    if state == "imported":
        return f"--out {out_dir} holds an imported run (it cannot be resumed); give another --out for a new run"
    return f"--out {out_dir} already holds a run; use --resume {out_dir} to continue it"


def resume(run_dir: Path, changes: dict | None = None, quiet: bool = False) -> Trainer:
    """Rebuild a run's Trainer from its folder and latest checkpoint.

    changes: {TrainConfig field: value} of the fields a resumed run may change (runs/changes.py). A new
    budget replaces both old ones (--max-steps alone trains to that step with no time limit).
    """
    folder = RunFolder.named(run_dir)
    task, info = read_task(folder)
    if info.get("imported"):
        raise ValueError(f"run folder {run_dir} was imported from {info['imported']}; it can be sampled and "
                         "evaluated, not resumed")
    old = task.settings["train"]
    changes = dict(changes or {})
    train = old.resumed(changes)                         # a new budget replaces both (TrainConfig.resumed)
    changed = {k: [getattr(old, k), getattr(train, k)] for k in vars(old) if getattr(old, k) != getattr(train, k)}
    task.settings["train"] = train
    model = build_model(task, train)
    trainer = Trainer(folder, task, model, train, quiet=quiet)
    folder.lock()                                        # before reading: a second process stops here
    try:
        folder.restore_newest_good(trainer.components())
        if not limit_reached(trainer):                   # a resume with nothing to train writes nothing
            folder.update_train(changed, trainer.counters["step"])
    except BaseException:
        folder.release()
        raise
    return trainer


def load(run_dir: Path, which: str = "last") -> LoadedRun:
    """(task, model with a checkpoint's weights, run info with "step" and "checkpoint") for eval, predict, sample.

    which: "last" or "best" (``RunFolder.load``); a damaged checkpoint is an error that names the older one
    that is intact. The model keeps the checkpoint's precision.
    """
    if which not in CHECKPOINTS:
        raise ValueError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}, got {which!r}")
    folder = RunFolder.named(run_dir)
    task, model, info = folder.load(which, newest_good=False)
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
    return (folder if isinstance(folder, RunFolder) else RunFolder.named(folder)).task()


def run_folder(path: Path) -> Path:
    """The run folder a user named (see RunFolder.named)."""
    return RunFolder.named(path).path


def read_config(run_dir: Path) -> dict:
    """config.json of a run folder, upgraded to the current format."""
    return RunFolder.named(run_dir).read_config()


def limit_reached(trainer: Trainer) -> str | None:
    """Why a (resumed) run would not train another step (runs/ending.py); else None."""
    return ending.why_finished(trainer.config, trainer.counters)


def default_out_dir(label: str) -> Path:
    """runs/<time>-<label> (-2, -3 ... when a run started in the same second took it); see first_start.py."""
    return new_run_folder(label)
