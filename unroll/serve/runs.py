"""The run folders under RUNS_DIR as the server sees them: safe names, summary rows, and two caches.

A run's *name* is its folder's path relative to RUNS_DIR with ``/`` between parts (``exp/lstm-256``).
``resolve(root, name)`` accepts only a name that leads, through real folders (no symlink anywhere on the
way), to a run folder: ``..``, absolute paths, empty or hidden parts, symlinks and unknown names are
``NotFound`` (the app answers 404 without saying which rule refused).

Everything else is read through ``RunFolder`` (runs/folder.py), which never writes here: the state of a
run (``RunFolder.state``: training while another process holds its lock, read from ``/proc/locks`` and
never by taking it; finished; imported; interrupted), the metric its task chooses the best checkpoint by
(``RunFolder.monitor``: the row's "metric", with its best and last validation value), its metrics
(``RunFolder.metrics(since=cursor)``, read incrementally and tolerantly: ``MetricsCache`` keeps each
run's records and cursor) and its model
(``RunFolder.load``: the newest checkpoint that verifies, so a half-written one is never read, in the
run's precision; ``ModelCache`` keeps the last few, keyed by the run's latest checkpoint).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from unroll.runs import RunFolder, lock, safety

MAX_DEPTH = 4                  # run folders are looked for this many levels below RUNS_DIR


class NotFound(LookupError):
    """No run folder of that name under RUNS_DIR (or one the server refuses to read)."""


def resolve(root: Path, name: str, kind=safety.is_run_folder) -> Path:
    """The run folder ``root/name``, checked part by part; NotFound for anything else (see module doc).
    ``kind``: what the last folder must be (a study folder: serve/studies.py)."""
    parts = name.split("/") if isinstance(name, str) else []
    if not parts or len(parts) > MAX_DEPTH or any(_bad_part(p) for p in parts):
        raise NotFound(name)
    path = Path(root)
    for part in parts:
        path = path / part
        if not safety.is_real_dir(path):
            raise NotFound(name)
    if not kind(path):
        raise NotFound(name)
    return path


def _bad_part(part: str) -> bool:
    return not part or part.startswith(".") or "\\" in part or "\x00" in part or ":" in part


def discover(root: Path, kind=safety.is_run_folder) -> list[str]:
    """Names of every run folder (``kind``: or study folder) under ``root`` (not following symlinks), sorted."""
    root, found = Path(root), []

    def walk(folder: Path, prefix: str, depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if _bad_part(entry.name) or not entry.is_dir(follow_symlinks=False):
                continue
            name, path = prefix + entry.name, Path(entry.path)
            if kind(path):
                found.append(name)
            elif depth < MAX_DEPTH and not safety.is_run_folder(path):      # nothing is looked for in a run
                walk(path, name + "/", depth + 1)
    walk(root, "", 1)
    return found


def config_of(run_dir: Path) -> dict:
    """config.json (upgraded), or {} when it is damaged (the table shows what it can)."""
    try:
        return RunFolder(run_dir).read_config()
    except ValueError:
        return {}


class MetricsCache:
    """Each run's step records, read incrementally (``RunFolder.metrics(since=cursor)``)."""

    def __init__(self):
        self.runs, self.lock = {}, threading.Lock()

    def read(self, run_dir: Path) -> list[dict]:
        return self.read_with_cursor(run_dir)[0]

    def read_with_cursor(self, run_dir: Path) -> tuple[list[dict], tuple]:
        """(the run's records, the cursor after them: it changes when metrics.jsonl grows or is rewritten)."""
        with self.lock:
            kept, cursor = self.runs.get(str(run_dir), ([], ()))
            new = RunFolder(run_dir).metrics(since=cursor)
            kept = list(new) if new.fresh else kept + list(new)
            self.runs[str(run_dir)] = (kept, new.cursor)
            return kept, (new.cursor, new.fresh and bool(cursor))


class RowCache:
    """The runs table's rows, each kept while its run's metrics cursor, config.json, result.json and lock are
    unchanged (``RunFolder.stamp``): a poll of 200 idle runs reads no record and parses no config again."""

    def __init__(self, metrics: MetricsCache):
        self.metrics, self.rows, self.lock = metrics, {}, threading.Lock()

    def row(self, name: str, run_dir: Path, locks: set[str]) -> dict:
        records, cursor = self.metrics.read_with_cursor(run_dir)
        key = (cursor, RunFolder(run_dir).stamp(), lock.held(run_dir, locks))
        with self.lock:
            kept = self.rows.get(str(run_dir))
        if kept is not None and kept[0] == key:
            return kept[1]
        row = summary_row(name, run_dir, config_of(run_dir), records, locks)
        with self.lock:
            self.rows[str(run_dir)] = (key, row)
        return row


def size_of(config: dict) -> dict:
    """{"cell", "layers", "hidden"} of the network section, which every config.json has once
    ``RunFolder.read_config`` upgraded it (a long-term run of format 4 names no layer count: it has one)."""
    network = config.get("network") if isinstance(config.get("network"), dict) else {}
    hidden = network.get("hidden_size")
    return {"cell": network.get("cell"), "layers": network.get("num_layers", 1 if hidden is not None else None),
            "hidden": hidden}


def selection(folder: RunFolder, steps: list[dict]) -> dict:
    """The metric the run's best checkpoint is chosen by (``RunFolder.monitor``): its name, "min" or "max",
    its best and its last validation value (None before the first validation)."""
    name, mode = folder.monitor()
    values = [r[f"valid_{name}"] for r in steps if isinstance(r.get(f"valid_{name}"), (int, float))]
    best = (max if mode == "max" else min)(values) if values else None
    return {"name": name, "mode": mode, "best": best, "last": values[-1] if values else None}


def summary_row(name: str, run_dir: Path, config: dict, records: list[dict], locks: set[str] | None = None) -> dict:
    """One row of the runs table (``locks``: ``lock.held_locks()``, read once for the table)."""
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    steps = [r for r in records if "event" not in r]
    valid = [r["valid_loss"] for r in steps if isinstance(r.get("valid_loss"), (int, float))]
    speeds = [r["tokens_per_s"] for r in steps[-5:] if isinstance(r.get("tokens_per_s"), (int, float))]
    last, folder = (steps[-1] if steps else {}), RunFolder(run_dir)
    return {"name": name, "task": config.get("task"), **size_of(config),
            "step": last.get("step", 0), "max_steps": train.get("max_steps"),
            "elapsed": last.get("elapsed"), "best_valid": min(valid) if valid else None,
            "metric": selection(folder, steps),
            "last_train": last.get("train_loss"), "tokens_per_s": sum(speeds) / len(speeds) if speeds else None,
            "created": config.get("created"), "state": folder.state(steps, locks, config)}


held_locks = lock.held_locks


class ModelCache:
    """(task, model, info) of a run's newest complete checkpoint (``checkpoint``: "last", or "best": best/),
    kept for the ``size`` last used."""

    def __init__(self, size: int = 8, checkpoint: str = "last"):
        self.size, self.items, self.lock, self.loading = size, OrderedDict(), threading.Lock(), threading.Lock()
        self.checkpoint = checkpoint

    def get(self, run_dir: Path):
        key = (str(run_dir), safety.stamp(run_dir))
        found = self._cached(key)
        if found is not None:
            return found
        with self.loading:                        # 20 requests for a new checkpoint load it once
            found = self._cached(key)
            if found is None:
                safety.refuse_links(run_dir)
                found = RunFolder(run_dir).load(self.checkpoint, newest_good=True)
                with self.lock:
                    self.items[key] = found
                    while len(self.items) > self.size:
                        self.items.popitem(last=False)
        return found

    def _cached(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None
