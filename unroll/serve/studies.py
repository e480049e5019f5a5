"""The tuning studies under RUNS_DIR as the server sees them (``unroll tune --out STUDY``: docs/tune.md).

A study's *name* is its folder's path under RUNS_DIR (``studies/lm``), checked part by part as a run's is
(``runs.resolve``): real folders all the way, a regular tune.json in the last one, and its study.db (with
its journal), where there is one, a regular file, never a link. The server reads a study only through
unroll/tune/folder.py: ``folder.data`` (tune.json by ``read_info``, study.db opened read-only by SQLite,
``reading``: nothing is created or migrated). Each trial's run folder, STUDY/trials/NNNN
(``folder.trial_folder``), is an ordinary run: its page is /run/STUDY/trials/NNNN when ``runs.resolve``
accepts it (a trial that never started, or one run on another machine with --storage, has none here).

``Studies`` answers the app (the study list, a study's data); ``StudyCache`` keeps each study's data while
its tune.json and study.db are unchanged (SQLite rewrites the file, so its mtime moves, whenever a trial
is written).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from unroll.runs import lock, safety
from unroll.serve import runs
from unroll.tasks.probes import Refused
from unroll.tune import folder as tune_folder   # Optuna itself is imported only when a study is read
from unroll.tune.folder import DB, INFO


def is_study_folder(path: Path) -> bool:
    """A real folder holding a regular tune.json, whose study.db and journal are regular files or absent."""
    path = Path(path)
    return (safety.is_real_dir(path) and safety.is_real_file(path / INFO)
            and all(safety.is_plain(path / f"{DB}{end}") for end in ("", "-journal", "-wal", "-shm")))


def resolve(root: Path, name: str) -> Path:
    """The study folder ``root/name``, or runs.NotFound."""
    return runs.resolve(root, name, is_study_folder)


def discover(root: Path) -> list[str]:
    """Names of every study folder under ``root``, sorted."""
    return runs.discover(root, is_study_folder)


def _stat(path: Path):
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size, st.st_ino
    except OSError:
        return None


class StudyCache:
    """Each study's ``folder.data``, with the run name of each trial's folder ("run", None where it has
    none), kept while its tune.json and study.db are unchanged. A study that cannot be read is a ValueError
    (one line: Optuna missing, --storage, no study.db yet, a damaged file)."""

    def __init__(self):
        self.items, self.lock = {}, threading.Lock()

    def data(self, root: Path, name: str, folder: Path) -> dict:
        key = (_stat(folder / INFO), _stat(folder / DB))
        with self.lock:
            kept = self.items.get(str(folder))
        if kept is not None and kept[0] == key:
            return kept[1]
        data = {"name": name, **tune_folder.data(folder)}
        for trial in (*data["trials"], *([data["best"]] if data["best"] else [])):
            trial["run"] = trial_run(root, name, trial["number"])
        with self.lock:
            self.items[str(folder)] = (key, data)
        return data


def trial_run(root: Path, study: str, number: int) -> str | None:
    """The run name of trial ``number``'s folder under RUNS_DIR, or None when there is no run folder there."""
    name = tune_folder.trial_folder(Path(study), number).as_posix()
    try:
        runs.resolve(root, name)
    except runs.NotFound:
        return None
    return name


def live(data: dict, row_of) -> dict:
    """``data`` with each running trial's steps and seconds as its run folder has them now (``row_of(run)``:
    its runs-table row, serve/runs.RowCache); Optuna records them only when a trial ends."""
    if not any(t["state"] == "running" and t["run"] for t in data["trials"]):
        return data
    trials = []
    for t in data["trials"]:
        if t["state"] == "running" and t["run"]:
            now = row_of(t["run"])
            t = {**t, "step": now["step"], "elapsed": now["elapsed"]}
        trials.append(t)
    return {**data, "trials": trials}


def row(root: Path, name: str, cache: StudyCache, locks: set[str] | None) -> dict:
    """One line of the study list: {"name", "running", "task", "metric", "mode", "params", "counts",
    "trials", "best", "best_trial"}, or {"name", "running", "error"} for a study that cannot be read."""
    folder = root / name
    running = lock.held(folder, locks)                  # a tune process holds the study's lock
    try:
        data = cache.data(root, name, folder)
    except ValueError as err:
        return {"name": name, "running": running, "error": str(err)}
    best = data["best"]
    return {"name": name, "running": running, "task": data["task"], "metric": data["metric"],
            "mode": data["mode"], "params": [p["name"] for p in data["params"]], "counts": data["counts"],
            "trials": len(data["trials"]), "best": best["value"] if best else None,
            "best_trial": best["number"] if best else None}


class Studies:
    """The studies under RUNS_DIR for the app: ``rows()`` (GET /api/studies) and ``get(name)`` (GET
    /api/study/NAME: a 404 Refused for a name that is no study folder); ``table``: the runs table's rows."""

    def __init__(self, root: Path, table: runs.RowCache):
        self.root, self.table, self.cache = Path(root), table, StudyCache()

    def rows(self) -> list[dict]:
        locks = runs.held_locks()
        return [row(self.root, name, self.cache, locks) for name in discover(self.root)]

    def get(self, name: str) -> dict:
        try:
            folder = resolve(self.root, name)
        except runs.NotFound:
            raise Refused(404, "no study folder of that name") from None
        locks = runs.held_locks()
        return live(self.cache.data(self.root, name, folder), lambda run: self.table.row(run, self.root / run, locks))
