"""Reading run folders that another process writes, without following a link out of them (unroll serve).

``is_run_folder`` (a real folder holding a regular config.json, no symlink), ``refuse_links`` (nothing
among a run's checkpoints is a symlink, FIFO or device: a read through a link could leave the runs folder,
a read of a FIFO never ends) and ``stamp`` (a value that changes whenever a new checkpoint is written: a
cache key). The metrics log is checked the same way where it is read (runs/records.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def is_real_file(path: Path) -> bool:
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


def is_run_folder(path: Path) -> bool:
    """A real folder (not a symlink) that holds a regular config.json."""
    return is_real_dir(path) and is_real_file(Path(path) / "config.json")


def refuse_links(run_dir: Path) -> None:
    """A one-line ValueError if ``latest``, ``checkpoints`` or anything in a checkpoint folder is a symlink
    or not a regular file or folder."""
    run_dir = Path(run_dir)
    paths = [run_dir / "latest", run_dir / "checkpoints"]
    if is_real_dir(run_dir / "checkpoints"):
        for folder in os.scandir(run_dir / "checkpoints"):
            paths.append(Path(folder.path))
            if folder.is_dir(follow_symlinks=False):
                paths += [Path(f.path) for f in os.scandir(folder.path)]
    for path in paths:
        if path.is_symlink():
            raise ValueError(f"run folder {run_dir.name} holds a symbolic link ({path.relative_to(run_dir)}); "
                             "unroll serve reads no links")
        if not (is_plain(path) or is_real_dir(path)):
            raise ValueError(f"run folder {run_dir.name}: {path.relative_to(run_dir)} is not a regular file")


def stamp(run_dir: Path):
    """(mtime, inode) of the run's ``latest`` pointer and of best/'s, None where missing: it changes with
    every checkpoint written."""
    return tuple(_stat_key(Path(run_dir) / where / "latest") for where in (".", "best"))


def _stat_key(path: Path):
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_ino
    except OSError:
        return None
