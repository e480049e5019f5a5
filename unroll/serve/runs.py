"""The run folders under RUNS_DIR, read without ever writing: names, summary rows, metrics, models.

A run's *name* is its folder's path relative to RUNS_DIR with ``/`` between parts (``exp/lstm-256``).
``resolve(root, name)`` accepts only a name that leads, through real folders (no symlink anywhere on the
way), to a folder holding a regular ``config.json``: ``..``, absolute paths, empty or hidden parts,
symlinks and unknown names are ``NotFound`` (the app answers 404 without saying which rule refused).

State of a run: *training* while another process holds the flock on its ``lock`` file (read from
``/proc/locks``, never by taking the lock: a server that took it, even briefly, could refuse a
``train --resume``); *finished* when ``result.json`` exists or the run's budget (max steps / max time) is
used up, or the task's own criterion (``Task.done``) holds for the last validation; otherwise
*interrupted*.

Metrics are read tolerantly (a training process may be half-way through writing the last line: a line
without its newline is left for the next read) and incrementally (only the bytes added since the last
read; a shorter file, as after a NaN rollback, is read anew). Models come from the newest checkpoint
whose checksums verify (``checkpoint.find_good``), so a half-written one is never read.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import threading
from collections import OrderedDict
from pathlib import Path

from unroll.runs import checkpoint

MAX_DEPTH = 4                  # run folders are looked for this many levels below RUNS_DIR
SIZE_KEYS = ("num_layers", "hidden_size", "cell")


class NotFound(LookupError):
    """No run folder of that name under RUNS_DIR (or one the server refuses to read)."""


def resolve(root: Path, name: str) -> Path:
    """The run folder ``root/name``, checked part by part; NotFound for anything else (see module doc)."""
    parts = name.split("/") if isinstance(name, str) else []
    if not parts or len(parts) > MAX_DEPTH or any(_bad_part(p) for p in parts):
        raise NotFound(name)
    path = Path(root)
    for part in parts:
        path = path / part
        if not _is_real_dir(path):
            raise NotFound(name)
    if not _is_real_file(path / "config.json"):
        raise NotFound(name)
    return path


def _bad_part(part: str) -> bool:
    return not part or part.startswith(".") or "\\" in part or "\x00" in part or ":" in part


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_real_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def is_plain(path: Path) -> bool:
    """True for a regular file (not a link, FIFO, device) or for nothing at all (nothing to read)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False


def discover(root: Path) -> list[str]:
    """Names of every run folder under ``root`` (not following symlinks), sorted."""
    root, found = Path(root), []

    def walk(folder: Path, prefix: str, depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if _bad_part(entry.name) or not entry.is_dir(follow_symlinks=False):
                continue
            name = prefix + entry.name
            if _is_real_file(Path(entry.path) / "config.json"):
                found.append(name)
            elif depth < MAX_DEPTH:
                walk(Path(entry.path), name + "/", depth + 1)
    walk(root, "", 1)
    return found


# ----------------------------------------------------------------------------------------------------
# Reading a folder.

def held_locks() -> set[str] | None:
    """"MAJOR:MINOR:INODE" of every file flock-ed on this machine (``/proc/locks``), or None where there is none."""
    try:
        with open("/proc/locks", encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    return {f[5] for line in lines if len(f := line.split()) > 5 and f[1] == "FLOCK"}


def training(run_dir: Path, locks: set[str] | None = None) -> bool:
    """Whether a process holds the flock on run_dir/lock; ``locks`` from ``held_locks`` (read once for a
    whole table); without /proc/locks: whether the pid in the lock file is alive."""
    try:
        st = os.stat(Path(run_dir) / "lock")
    except OSError:
        return False
    locks = held_locks() if locks is None else locks
    if locks is None:
        return _pid_alive(run_dir)
    return f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}" in locks


def _pid_alive(run_dir: Path) -> bool:
    try:
        pid = int((Path(run_dir) / "lock").read_text(encoding="ascii").strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


class MetricsLog:
    """Incremental, tolerant reader of one metrics.jsonl (see the module doc)."""

    def __init__(self, path: Path):
        self.path, self.offset, self.records, self.key = Path(path), 0, [], None
        self.lock = threading.Lock()

    def read(self) -> list[dict]:
        with self.lock:
            try:
                st = os.stat(self.path)
            except OSError:
                self.offset, self.records, self.key = 0, [], None
                return []
            if self.key != st.st_ino or st.st_size < self.offset:      # replaced or truncated: start again
                self.offset, self.records, self.key = 0, [], st.st_ino
            if st.st_size > self.offset:
                with open(self.path, "rb") as fh:
                    fh.seek(self.offset)
                    data = fh.read(st.st_size - self.offset)
                complete = data[:data.rfind(b"\n") + 1]
                self.offset += len(complete)
                for line in complete.splitlines():
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(record, dict) and isinstance(record.get("step"), (int, float)):
                        self.records.append(record)
            return self.records


def read_json_quiet(path: Path):
    """A JSON file's object, or None if it is missing or damaged (the table shows what it can)."""
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def size_of(config: dict) -> dict:
    """{"cell", "layers", "hidden"} from whichever section names them (language model: "model")."""
    for section in config.values():
        if isinstance(section, dict) and any(k in section for k in SIZE_KEYS):
            return {"cell": section.get("cell"), "layers": section.get("num_layers"),
                    "hidden": section.get("hidden_size")}
    return {"cell": None, "layers": None, "hidden": None}


def summary_row(name: str, run_dir: Path, config: dict, records: list[dict], locks: set[str] | None = None) -> dict:
    """One row of the runs table (``locks``: see ``training``)."""
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    steps = [r for r in records if "event" not in r]
    valid = [r["valid_loss"] for r in steps if isinstance(r.get("valid_loss"), (int, float))]
    speeds = [r["tokens_per_s"] for r in steps[-5:] if isinstance(r.get("tokens_per_s"), (int, float))]
    last = steps[-1] if steps else {}
    busy = training(run_dir, locks)
    return {"name": name, "task": config.get("task", "lm"), **size_of(config),
            "step": last.get("step", 0), "max_steps": train.get("max_steps"),
            "elapsed": last.get("elapsed"), "best_valid": min(valid) if valid else None,
            "last_train": last.get("train_loss"), "tokens_per_s": sum(speeds) / len(speeds) if speeds else None,
            "created": config.get("created"),
            "state": "training" if busy else _finished_or_interrupted(run_dir, train, last)}


def _finished_or_interrupted(run_dir: Path, train: dict, last: dict) -> str:
    if (Path(run_dir) / "result.json").is_file():
        return "finished"
    max_steps, max_time = train.get("max_steps"), train.get("max_time")
    if isinstance(max_steps, int) and last.get("step", 0) >= max_steps:
        return "finished"
    if isinstance(max_time, (int, float)) and (last.get("elapsed") or 0) >= max_time:
        return "finished"
    return "finished" if _task_done(run_dir, last) else "interrupted"


@functools.lru_cache(maxsize=1024)
def _done_by(run_dir: str, config_mtime: int, valid: tuple) -> bool:
    """The task's own early stop (``Task.done``) on the last validation, e.g. seq2seq at exact match 1."""
    from unroll.runs.run import read_task
    try:
        task, _ = read_task(Path(run_dir))
        return bool(task.done(dict(valid)))
    except (ValueError, TypeError, KeyError):
        return False


def _task_done(run_dir: Path, last: dict) -> bool:
    valid = tuple(sorted((k[len("valid_"):], v) for k, v in last.items() if k.startswith("valid_")))
    if not valid:
        return False
    try:
        mtime = os.stat(Path(run_dir) / "config.json").st_mtime_ns
    except OSError:
        return False
    return _done_by(str(run_dir), mtime, valid)


# ----------------------------------------------------------------------------------------------------
# Models.

class ModelCache:
    """(task, model, info) of a run's newest complete checkpoint, kept for the ``size`` last used."""

    def __init__(self, size: int = 8):
        self.size, self.items, self.lock, self.loading = size, OrderedDict(), threading.Lock(), threading.Lock()

    def get(self, run_dir: Path):
        key = (str(run_dir), _pointer_mtime(run_dir))
        found = self._cached(key)
        if found is not None:
            return found
        with self.loading:                        # 20 requests for a new checkpoint load it once
            found = self._cached(key)
            if found is None:
                found = load_newest(run_dir)
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


def _pointer_mtime(run_dir: Path):
    try:
        st = os.stat(Path(run_dir) / "latest")
        return st.st_mtime_ns, st.st_ino
    except OSError:
        return None


def refuse_links(run_dir: Path) -> None:
    """A one-line ValueError if ``latest``, ``checkpoints`` or anything in a checkpoint folder is a symlink
    (the server reads nothing through a link: it could lead out of RUNS_DIR) or a FIFO or device (a read
    that never ends)."""
    run_dir = Path(run_dir)
    paths = [run_dir / "latest", run_dir / "checkpoints"]
    if _is_real_dir(run_dir / "checkpoints"):
        for folder in os.scandir(run_dir / "checkpoints"):
            paths.append(Path(folder.path))
            if folder.is_dir(follow_symlinks=False):
                paths += [Path(f.path) for f in os.scandir(folder.path)]
    for path in paths:
        if path.is_symlink():
            raise ValueError(f"run folder {run_dir.name} holds a symbolic link ({path.relative_to(run_dir)}); "
                             "unroll serve reads no links")
        if not (is_plain(path) or _is_real_dir(path)):
            raise ValueError(f"run folder {run_dir.name}: {path.relative_to(run_dir)} is not a regular file")


def load_newest(run_dir: Path, tries: int = 3):
    """(task, model, info with "step" and "checkpoint") of the newest checkpoint that verifies.

    A training process may prune a checkpoint between our reading ``latest`` and its files; then the
    search starts again (``tries`` times). ValueError (one line) when the run has no checkpoint yet.
    """
    from unroll.runs import RunFolder
    from unroll.runs.run import read_task
    refuse_links(run_dir)
    task, info = read_task(RunFolder(run_dir))
    model = task.build_model(task.settings["train"].seed)
    expected = {k: v.shape for k, v in model.params.items()}
    for attempt in range(tries):
        try:
            folder, named, _ = checkpoint.find_good(run_dir, expected)
            break
        except ValueError:
            if attempt == tries - 1:
                raise
    if folder is None:
        raise ValueError(f"run {Path(run_dir).name} has no checkpoint yet")
    for key, value in named["model"][0].items():
        model.params[key][...] = value
    return task, model, {**info, "step": named["counters"][1]["step"], "checkpoint": folder.name}
