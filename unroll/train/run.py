"""Run folders, for every task: start a training run, resume one, load one for eval, predict and sampling.

``config.json`` (format 2) records::

    {"format": 2, "unroll_version": ..., "created": ..., "task": "lm",
     "train": {TrainConfig}, "<section>": {the task's settings, one dict per section}, ...,
     "<key>": ... what the task's prepare() returned (the language model: "data", "vocab")}

Run folders of unroll 0.1 (language models, no "format" key) are read by ``_upgrade_v1``; a format this
version does not know gets a one-line error naming the version that wrote it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from unroll import __version__
from unroll.config import TrainConfig, from_dict, to_dict
from unroll.tasks import get_task
from unroll.train import checkpoint, distributed, lock
from unroll.train.changes import record_changes
from unroll.train.first_start import RESERVED, absolute_paths, first_start, new_run_folder
from unroll.train.trainer import Trainer

FORMAT = 2
META = ("format", "unroll_version", "created", "task", "train")


def start(out_dir: Path, task_name: str, settings: dict, train: TrainConfig, quiet: bool = False) -> Trainer:
    """Create a new run folder and its Trainer. settings: {section: dataclass} of the task's sections.

    Everything that can fail on bad input (the data, the validation file, the split across processes) is
    checked before the folder exists; ``first_start`` removes the folder if training still fails early.
    """
    out_dir = Path(out_dir)
    if (out_dir / "config.json").exists():
        raise ValueError(f"--out {out_dir} already holds a run; use --resume {out_dir} to continue it")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder")
    world = distributed.world()
    if world.size > train.batch_size:
        raise ValueError(f"--batch {train.batch_size} leaves some of the {world.size} processes no sequence; "
                         f"give --batch {world.size} or more")
    settings = {name: absolute_paths(value) for name, value in settings.items()}
    task = get_task(task_name)({"train": train, **settings})
    prepared = task.prepare()
    clash = sorted(set(prepared) & (set(META) | set(task.sections)))
    if clash:
        raise ValueError(f"task {task_name}: prepare() returned the reserved key(s) {', '.join(clash)}")
    model = build_model(task, train)
    trainer = Trainer(out_dir, task, model, train, quiet=quiet)   # checks the batches: nothing is written yet
    task.check_data()                                 # the --valid file too
    if world.size > 1:
        task.shard(next(task.batches(train)), world.rank, world.size)
    world.barrier()                                   # P > 1: every rank has checked before rank 0 writes
    trainer.new_folder = not out_dir.exists() or out_dir.resolve() in RESERVED
    if world.rank == 0:
        with first_start(trainer):
            out_dir.mkdir(parents=True, exist_ok=True)
            lock.acquire(out_dir)                        # one process per run folder (train/lock.py)
            checkpoint.write_json_atomic(out_dir / "config.json", {
                "format": FORMAT, "unroll_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "task": task_name, "train": to_dict(train),
                **{name: to_dict(task.settings[name]) for name in task.sections}, **prepared})
    world.barrier()
    return trainer


def resume(run_dir: Path, changes: dict | None = None, quiet: bool = False) -> Trainer:
    """Rebuild a run's Trainer from its folder and latest checkpoint.

    changes: {TrainConfig field: value} of the fields a resumed run may change (the learning rate, the
    budgets, the evaluation and logging cadence). A new budget replaces both old ones (--max-steps alone
    trains to that step with no time limit). What changed is logged in metrics.jsonl (event
    "resumed_with_changes"), written into config.json and appended to config-history.jsonl.
    """
    run_dir = run_folder(run_dir)
    task, info = read_task(run_dir)
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
    trainer = Trainer(Path(run_dir), task, model, train, quiet=quiet)
    lock.acquire(run_dir)                                # before reading: a second process stops here
    try:
        _load_newest_good(trainer, run_dir)
        if changed and trainer.world.rank == 0:
            record_changes(trainer, info, changed)
    except BaseException:
        lock.release(run_dir)
        raise
    return trainer


def _load_newest_good(trainer: Trainer, run_dir: Path) -> None:
    """Load the newest checkpoint that reads cleanly, saying on stderr which damaged ones it passed over."""
    folder, _, skipped = checkpoint.find_good(run_dir, {k: v.shape for k, v in trainer.model.params.items()})
    for reason in skipped:
        print(f"unroll: warning: {reason}", file=sys.stderr)
    if folder is None:
        print(f"unroll: run folder {run_dir} has no checkpoint yet; starting from step 0", file=sys.stderr)
        return
    if skipped:
        print(f"unroll: resuming from the older checkpoint {folder.name}", file=sys.stderr)
    trainer.load(folder)


def load(run_dir: Path):
    """(task, model with the latest checkpoint's weights, run info with "step") for eval, predict, sample."""
    run_dir = run_folder(run_dir)
    task, info = read_task(run_dir)
    model = build_model(task, task.settings["train"])
    expected = {k: v.shape for k, v in model.params.items()}
    try:
        named = checkpoint.read(checkpoint.latest(run_dir), expected)
    except ValueError as err:
        raise ValueError(f"{err}{_older_good_hint(run_dir, expected)}") from None
    saved = {v.dtype for v in named["model"][0].values()}
    if len(saved) == 1 and saved != {v.dtype for v in model.params.values()}:   # keep the checkpoint's precision
        model = task.build_model(task.settings["train"].seed, saved.pop().type)
    for key, value in named["model"][0].items():
        model.params[key][...] = value
    info["step"] = named["counters"][1]["step"]
    return task, model, info


def build_model(task, train: TrainConfig):
    """The task's fresh model, in --dtype when the run gave one (else the task's default precision)."""
    if train.dtype is None:
        return task.build_model(train.seed)
    return task.build_model(train.seed, np.dtype(train.dtype).type)


def summarise(trainer) -> dict:
    """The task's summary of a finished run (``Task.summary``), written to result.json when not empty."""
    from unroll.analysis.plots import read_metrics
    summary = trainer.task.summary(trainer.model, read_metrics(trainer.run_dir))
    if summary:
        checkpoint.write_json_atomic(trainer.run_dir / "result.json", summary)
    return summary


def _older_good_hint(run_dir: Path, expected: dict) -> str:
    """'; the older checkpoint ... is intact' when one loads cleanly, else ''."""
    try:
        folder, _, _ = checkpoint.find_good(run_dir, expected)
    except ValueError:
        return ""
    return f"; the older checkpoint {folder.name} is intact (unroll train --resume falls back to it)" if folder else ""


def read_task(run_dir: Path):
    """(the run's Task, built from its settings and prepared data, the config.json dict)."""
    info = read_config(run_dir)
    try:                                                 # a damaged config.json: one line naming it
        task_cls = get_task(info["task"])
        for name in ("train", *task_cls.sections):
            if not isinstance(info.get(name), dict):
                raise ValueError(f"section '{name}' must be a JSON object, got {type(info.get(name)).__name__}")
        settings = {"train": from_dict(TrainConfig, info["train"])}
        settings.update({name: from_dict(cls, info[name]) for name, cls in task_cls.sections.items()})
        prepared = {k: v for k, v in info.items() if k not in META and k not in task_cls.sections}
        task = task_cls(settings, prepared)
        _check_prepared(task_cls, task, prepared)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as err:
        kind = "" if isinstance(err, ValueError) else type(err).__name__ + " "
        path = Path(run_dir) / "config.json"
        raise ValueError(f"run configuration {path} is damaged: {kind}{err}".replace("\n", "\\n")) from None
    return task, info


def _check_prepared(task_cls, task, prepared: dict) -> None:
    """Parse what the task stored now, not in the middle of a command: its vocabulary and data record."""
    if hasattr(task_cls, "vocab"):
        task.vocab
    if "data" in prepared:
        data = prepared["data"]
        if not isinstance(data, dict):
            raise ValueError(f"'data' must be a JSON object, got {type(data).__name__}")
        for key in ("source", "sha256", "valid"):
            if key not in data or not isinstance(data[key], (str, type(None))):
                raise ValueError(f"data.{key} must be a string or null")


def run_folder(path: Path) -> Path:
    """The run folder a user named: the folder itself, or the folder of its config.json (or of a file in it)."""
    path = Path(path)
    if path.is_file():
        if (path.parent / "config.json").is_file():
            return path.parent
        raise ValueError(f"{path} is a file, not a run folder (give the folder that holds config.json)")
    if not path.is_dir():
        raise ValueError(f"run folder {path} does not exist")
    return path


def limit_reached(trainer: Trainer) -> str | None:
    """Why a (resumed) run would not train another step: its --max-steps or --max-time is used up; else None."""
    c, cfg = trainer.counters, trainer.config
    if cfg.max_steps is not None and c["step"] >= cfg.max_steps:
        return f"it reached its limit of --max-steps {cfg.max_steps} (step {c['step']})"
    if cfg.max_time is not None and c["elapsed"] >= cfg.max_time:
        return f"it reached its limit of --max-time {cfg.max_time:g} s ({c['elapsed']:.1f} s trained)"
    return None


def read_config(run_dir: Path) -> dict:
    """config.json of a run folder, upgraded to the current format."""
    run_dir = run_folder(run_dir)
    path = run_dir / "config.json"
    info = checkpoint.read_json(path, "run configuration")
    if "format" not in info:
        return _upgrade_v1(info, path)
    if info["format"] != FORMAT:
        raise ValueError(f"run configuration {path} was written by unroll {info.get('unroll_version', '?')} "
                         f"(format {info['format']}); this is unroll {__version__}, which reads format {FORMAT}")
    for key in ("task", "train"):
        if key not in info:
            raise ValueError(f"run configuration {path} has no '{key}' section")
    return info


def _upgrade_v1(info: dict, path: Path) -> dict:
    """unroll 0.1's language-model config.json: model, train (with the corpus and BPTT settings), data, vocab."""
    if "experiment" in info:
        raise ValueError(f"{path.parent} was written by `unroll experiment` of unroll 0.1 (weights only, no "
                         f"checkpoints); unroll {__version__} cannot read it: run the experiment again with --out")
    for key in ("model", "train", "data", "vocab"):
        if key not in info:
            raise ValueError(f"run configuration {path} has no '{key}' section "
                             f"(written by unroll {info.get('unroll_version', '?')})")
    train = dict(info["train"])
    corpus = {k: train.pop(k) for k in ("data", "level", "min_count", "tokenizer", "valid_fraction", "encoding") if k in train}
    corpus["valid"] = info["data"].get("valid")
    bptt = {k: train.pop(k) for k in ("seq_len", "bptt") if k in train}
    return {"format": FORMAT, "unroll_version": info.get("unroll_version", "0.1.0"), "created": info.get("created"),
            "task": "lm", "train": train, "corpus": corpus, "bptt": bptt, "model": info["model"],
            "data": info["data"], "vocab": info["vocab"]}


def default_out_dir(label: str) -> Path:
    """runs/<time>-<label> (-2, -3 ... when a run started in the same second took it); see first_start.py."""
    return new_run_folder(label)
