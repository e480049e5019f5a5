"""One process per run folder: an advisory lock on RUN_DIR/lock (``fcntl.flock``).

The kernel drops a flock when its process ends, however it ends (kill -9 included), so a crash never
leaves the folder locked; the pid written into the file only makes the refusal's message useful. A process
takes the lock once per folder and may take it again (``acquire`` is idempotent within a process);
``release`` gives it back. The callers are ``unroll.runs.RunFolder.lock`` (and ``held``), so a run folder's
lock is taken in one place, and ``unroll.tune.study.lock`` (one tune process per study folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from unroll.train import distributed

try:
    import fcntl
except ImportError:            # not POSIX: no locking, training still works
    fcntl = None

_HELD: dict[Path, int] = {}


class RunFolderBusy(ValueError):
    """Another process holds the run folder's lock."""


def acquire(run_dir: Path, what: str = "run folder") -> None:
    """Lock ``run_dir`` for this process, or raise RunFolderBusy (one line) naming ``what`` it is and the
    holder's pid."""
    key = Path(run_dir).resolve()
    if key in _HELD or fcntl is None or distributed.world().rank != 0:    # P ranks: rank 0 holds it for all
        return
    key.mkdir(parents=True, exist_ok=True)
    fd = os.open(key / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise RunFolderBusy(f"{what} {run_dir} is in use by another unroll process (pid {holder}); "
                            "wait for it to finish or stop it first") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    _HELD[key] = fd


def release(run_dir: Path) -> None:
    """Give the lock back (closing the file releases the flock); a no-op if this process does not hold it."""
    fd = _HELD.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)


def held_locks() -> set[str] | None:
    """"MAJOR:MINOR:INODE" of every file flock-ed on this machine (``/proc/locks``), or None where there is none."""
    try:
        with open("/proc/locks", encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    return {f[5] for line in lines if len(f := line.split()) > 5 and f[1] == "FLOCK"}


def held(run_dir: Path, locks: set[str] | None = None) -> bool:
    """Whether a process holds the flock on run_dir/lock, read without taking it (a reader that took it, even
    briefly, could refuse a ``train --resume``). ``locks``: ``held_locks()``, read once for many folders;
    without /proc/locks: whether the pid written in the lock file is alive."""
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
