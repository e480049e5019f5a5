"""One run folder, owned in one place: every file of it is read and written here (and in the modules this
one calls: checkpoint.py, lock.py, records.py, loading.py); no module outside runs/ opens one by name.

A run folder is the same for every task (``unroll train``, ``unroll experiment``, ``unroll import``)::

    config.json        {"format": 4, "unroll_version", "created", "task", "train": {...}, "<section>": {...},
                        what the task's prepare() returned}   written by ``create``; its train section by
                        ``update_train`` (train --resume with changes); read by ``read_config`` / ``task``
    config-history.jsonl   one line per ``update_train``: the step, the time, the changes
    lock               held by the process that trains here (runs/lock.py's flock; taken only by ``lock``,
                       read without taking it by ``state``)
    checkpoints/, latest   written by ``save``, read by ``restore`` / ``restore_newest_good`` / ``load``
                           (atomic, checksummed, with fallback: runs/checkpoint.py, docs/reliability.md)
    best/              the best checkpoint by the task's validation metric (its own checkpoints/ and latest,
                       parameters and counters only): ``save_best``, read by ``load("best")``
    metrics.jsonl      one JSON object per line: ``log`` appends, ``truncate_log`` drops lines after a step,
                       ``metrics`` reads them back (all of them, or those after a cursor: runs/records.py)
    result.json        the task's summary when training ends (``write_result``, ``read_result``)

``FILES`` lists them (a failed first start removes them). ``state()`` says whether the run is training
(another process holds the lock), finished (runs/ending.py) or interrupted. ``load(which)`` rebuilds the
task and its model with the weights of the latest or the best checkpoint (runs/loading.py).

The trainer sees only ``save(step, parts)``, ``save_best(step, parts)``, ``log(record)``, ``restore(parts)`` (NaN rollback),
``has_checkpoint()`` and ``held()`` (the lock while it trains). With P ranks, rank 0 alone writes; the
other ranks' ``save`` returns None and their ``log`` does nothing.

Older run folders are upgraded when read (the file on disk is left as it is): format 3 kept each task's
network settings (cell, hidden, layers, ...) in the task's own section, format 4 in "network"
(tasks/upgrade.py moves them), and format 5 the long-term task's cell too (its "model" section, with the
cell name irnn for rnn + relu + init identity:0.001); format 2 named the
learning-rate schedule's settings lr_decay, lr_decay_every, lr_decay_start (now decay_rate, decay_every,
decay_start and schedule, the names of train/schedule.py's LRSchedule); unroll 0.1's language models
(config.json without "format") kept the corpus and BPTT settings in "train". A format this version does
not know gets a one-line error naming the version that wrote it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from pathlib import Path

from unroll._version import __version__
from unroll.config import TrainConfig, from_dict
from unroll.runs import checkpoint, ending, loading, lock, records
from unroll.runs.loading import BEST
from unroll.train import distributed

FORMAT = 5
FILES = ("config.json", "config-history.jsonl", "lock", "latest", "checkpoints", BEST, "metrics.jsonl",
         "result.json")                                            # the layout drawn above
STATES = ("training", "finished", "interrupted", "imported")


class RunFolder:
    """The files of one run. path: the folder (created by ``create``)."""

    def __init__(self, path: Path, world=None):
        self.path = Path(path)
        self.world = world if world is not None else distributed.world()

    @classmethod
    def named(cls, path: Path) -> "RunFolder":
        """The run folder a user named: the folder itself, or the folder of its config.json (or of a file in it)."""
        path = Path(path)
        if path.is_file():
            if (path.parent / "config.json").is_file():
                return cls(path.parent)
            raise ValueError(f"{path} is a file, not a run folder (give the folder that holds config.json)")
        if not path.is_dir():
            raise ValueError(f"run folder {path} does not exist")
        return cls(path)

    # ------------------------------------------------------------------------------------------------
    # config.json

    def exists(self) -> bool:
        return (self.path / "config.json").exists()

    def create(self, body: dict) -> None:
        """Make the folder, take its lock and write config.json = {format, version, created, **body}.

        With P ranks every rank calls it; rank 0 alone writes, after every rank got here.
        """
        config = {"format": FORMAT, "unroll_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  **body}
        self.world.barrier()                         # P > 1: every rank has checked before rank 0 writes
        if self.world.rank == 0:
            self.path.mkdir(parents=True, exist_ok=True)
            self.lock()
            checkpoint.write_json_atomic(self.path / "config.json", config)
        self.world.barrier()

    def read_config(self) -> dict:
        """config.json, upgraded to the current format (one-line errors naming the file)."""
        path = self.path / "config.json"
        info = checkpoint.read_json(path, "run configuration")
        if "format" not in info:
            info = upgrade_v1(info, path)
        if info["format"] == 2:
            info = upgrade_v2(info, path)
        if info["format"] == 3:
            from unroll.tasks.upgrade import upgrade_v3
            info = upgrade_v3(info)
        if info["format"] == 4:
            from unroll.tasks.upgrade import upgrade_v4
            info = upgrade_v4(info)
        if info["format"] != FORMAT:
            raise ValueError(f"run configuration {path} was written by unroll {info.get('unroll_version', '?')} "
                             f"(format {info['format']}); this is unroll {__version__}, which reads format {FORMAT}")
        for key in ("task", "train"):
            if key not in info:
                raise ValueError(f"run configuration {path} has no '{key}' section")
        return info

    # ------------------------------------------------------------------------------------------------
    # The lock: the one place it is taken.

    def lock(self) -> None:
        """One process per run folder: take the lock (idempotent), or a one-line RunFolderBusy."""
        lock.acquire(self.path)

    def release(self) -> None:
        lock.release(self.path)

    @contextlib.contextmanager
    def held(self):
        """The lock for the length of a ``with`` block (training), released however the block ends."""
        self.lock()
        try:
            yield self
        finally:
            self.release()

    # ------------------------------------------------------------------------------------------------
    # Checkpoints.

    def has_checkpoint(self) -> bool:
        return (self.path / "latest").exists()

    def save(self, step: int, parts: dict) -> Path | None:
        """Write checkpoint ``step`` of ``parts`` (name -> state_dict() holder); rank 0 writes, the others get None."""
        folder = checkpoint.save(self.path, step, parts) if self.world.rank == 0 else None
        self.world.barrier()
        return folder

    def restore(self, parts: dict, folder: Path | None = None) -> Path:
        """Load ``parts`` from checkpoint ``folder`` (default: latest); drop log lines after its step."""
        folder = folder or checkpoint.latest(self.path)
        named = checkpoint.load(folder, parts)
        if self.world.rank == 0:
            self.truncate_log(named["counters"][1]["step"])
        return folder

    def restore_newest_good(self, parts: dict) -> Path | None:
        """Load the newest checkpoint that reads cleanly (saying on stderr which damaged ones it passed over);
        None when the run has none yet."""
        expected = {k: v.shape for k, v in parts["model"].state_dict()[0].items()}
        folder, _, skipped = checkpoint.find_good(self.path, expected)
        for reason in skipped:
            print(f"unroll: warning: {reason}", file=sys.stderr)
        if folder is None:
            print(f"unroll: run folder {self.path} has no checkpoint yet; starting from step 0", file=sys.stderr)
            return None
        if skipped:
            print(f"unroll: resuming from the older checkpoint {folder.name}", file=sys.stderr)
        return self.restore(parts, folder)

    def save_best(self, step: int, parts: dict) -> Path | None:
        """Write the best checkpoint so far (best/, a checkpoint folder of its own); rank 0 writes."""
        folder = checkpoint.save(self.path / BEST, step, parts) if self.world.rank == 0 else None
        self.world.barrier()
        return folder

    def has_best(self) -> bool:
        return (self.path / BEST / "latest").is_file()

    def load(self, which: str = "last", newest_good: bool = True, dtype=None):
        """(task, model, info) of checkpoint ``which``: "last" (the latest) or "best" (best/, the best by the
        task's validation metric; the latest when the run has kept none yet). The model is in ``dtype``, else
        in the checkpoint's precision (the run's --dtype). newest_good: pass over a damaged or half-written
        checkpoint to the newest one that verifies (a warning each); else the damaged one's error, saying
        which older one is intact. info: config.json with "step", "checkpoint" (which) and
        "checkpoint_folder" (its folder's name)."""
        return loading.load(self, which, newest_good, dtype)

    def task(self):
        """(the run's Task, rebuilt from config.json, the config.json dict)."""
        return loading.read_task(self)

    # ------------------------------------------------------------------------------------------------
    # metrics.jsonl, result.json, the train section

    def log(self, record: dict) -> None:
        """Append one record to metrics.jsonl (rank 0)."""
        if self.world.rank != 0:
            return
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_log(self, step: int) -> None:
        """Drop log lines written after ``step`` (an interrupted run logged steps it did not checkpoint);
        the file is rewritten only when a line goes."""
        path = self.path / "metrics.jsonl"
        if path.exists():                                 # a line cut short by kill -9 is dropped too
            lines = [line for line in path.read_bytes().decode("utf-8", "replace").split("\n") if line]
            kept = [line for line in lines if records.logged_step(line) <= step]
            if len(kept) == len(lines) and path.read_bytes().endswith(b"\n"):
                return
            tmp = path.with_name(path.name + ".tmp")      # atomic: a kill here keeps the old log
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            tmp.replace(path)

    def metrics(self, since: tuple | None = None) -> records.Records:
        """The records of metrics.jsonl. since=None: all of them, naming the file and line of a damaged one;
        since=a cursor (``.cursor`` of the previous read; ``()`` for the first): only the step records
        written after it, tolerantly (runs/records.py: ``.fresh`` says the file was read anew)."""
        path = self.path / "metrics.jsonl"
        return records.read_all(path, self.path) if since is None else records.read_since(path, since)

    def stamp(self) -> tuple:
        """config.json's and result.json's modification times (None when absent): with the metrics cursor
        and the lock, what a summary of the run (serve's runs table) depends on."""
        def mtime(name):
            try:
                return (self.path / name).stat().st_mtime_ns
            except OSError:
                return None
        return mtime("config.json"), mtime("result.json")

    def update_train(self, changes: dict, step: int) -> None:
        """A resumed run's new settings, changes = {TrainConfig field: [old, new]}: a metrics event, the new
        values in config.json's train section, a line of config-history.jsonl (rank 0 writes)."""
        if self.world.rank != 0 or not changes:
            return
        self.log({"step": step, "event": "resumed_with_changes", "changes": changes})
        info = self.read_config()
        checkpoint.write_json_atomic(self.path / "config.json",
                                     {**info, "train": {**info["train"], **{k: v[1] for k, v in changes.items()}}})
        line = json.dumps({"step": step, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "changes": changes})
        with open(self.path / "config-history.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def write_result(self, summary: dict) -> None:
        checkpoint.write_json_atomic(self.path / "result.json", summary)

    def read_result(self) -> dict:
        """result.json, or {} when the run wrote none."""
        path = self.path / "result.json"
        return checkpoint.read_json(path, "run result") if path.is_file() else {}

    # ------------------------------------------------------------------------------------------------
    # The run's state, and removing it

    def state(self, steps: list[dict] | None = None, locks: set | None = None, config: dict | None = None) -> str:
        """training (another process holds the lock), finished (runs/ending.py), imported (``unroll import``
        made it: weights, no training logged) or interrupted. steps: the run's metrics records and config:
        its config.json, when the caller has them; locks: ``lock.held_locks()`` read once for many."""
        if lock.held(self.path, locks):
            return "training"
        if self.why_finished(steps, config):
            return "finished"
        return "imported" if self.imported(steps, config) else "interrupted"

    def imported(self, steps: list[dict] | None = None, config: dict | None = None) -> bool:
        """Made by ``unroll import`` (config.json names its source) and never trained since."""
        try:
            if "imported" not in (config if config is not None else self.read_config()):
                return False
        except ValueError:
            return False
        steps = self.metrics(since=()) if steps is None else steps
        return not [r for r in steps if "event" not in r]

    def monitor(self) -> tuple[str, str]:
        """(metric name, "min" | "max"): what the run's task chooses its best checkpoint by (Task.monitor);
        the task is read once per config.json."""
        return ending.CachedTask(self).monitor()

    def why_finished(self, steps: list[dict] | None = None, config: dict | None = None) -> str | None:
        """Why the run trains no further (result.json, its budget, patience, its task's criterion), or None;
        config: its config.json when the caller has read it."""
        if (self.path / "result.json").is_file():
            return "it wrote its result"
        try:
            train = from_dict(TrainConfig, (config or self.read_config())["train"])
        except (ValueError, TypeError):
            return None
        steps = [r for r in (self.metrics(since=()) if steps is None else steps) if "event" not in r]
        last = steps[-1] if steps else {}
        return ending.why_finished(train, last, ending.CachedTask(self))

    def remove(self, whole: bool) -> None:
        """Remove the run: the folder itself (whole), or only the run's own FILES in a folder that held others."""
        if whole:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for name in FILES:
            path = self.path / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()


def upgrade_v1(info: dict, path: Path) -> dict:
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
    return {"format": 2, "unroll_version": info.get("unroll_version", "0.1.0"), "created": info.get("created"),
            "task": "lm", "train": train, "corpus": corpus, "bptt": bptt, "model": info["model"],
            "data": info["data"], "vocab": info["vocab"]}


V2_SCHEDULE = {"lr_decay": "decay_rate", "lr_decay_every": "decay_every", "lr_decay_start": "decay_start"}


def upgrade_v2(info: dict, path: Path) -> dict:
    """Format 2 -> 3: the schedule's settings under LRSchedule's names; lr_decay < 1 meant exponential."""
    train = info.get("train")
    if not isinstance(train, dict):
        raise ValueError(f"run configuration {path} has no 'train' section")
    train = {V2_SCHEDULE.get(k, k): v for k, v in train.items()}
    if "schedule" not in train:
        rate = train.get("decay_rate", 1.0)
        train["schedule"] = "exponential" if isinstance(rate, (int, float)) and rate < 1 else "constant"
    return {**info, "format": 3, "train": train}
