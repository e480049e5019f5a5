"""One process per run folder: an advisory lock on RUN_DIR/lock (``fcntl.flock``).

The kernel drops a flock when its process ends, however it ends (kill -9 included), so a crash never
leaves the folder locked; the pid written into the file only makes the refusal's message useful. A process
takes the lock once per folder and may take it again (``acquire`` is idempotent within a process);
``release`` gives it back. The one caller is ``unroll.runs.RunFolder.lock`` (and ``held``), so the lock
is taken in one place.
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


def acquire(run_dir: Path) -> None:
    """Lock ``run_dir`` for this process, or raise RunFolderBusy (one line) naming the holder's pid."""
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
        raise RunFolderBusy(f"run folder {run_dir} is in use by another unroll process (pid {holder}); "
                            "wait for it to finish or stop it first") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    _HELD[key] = fd


def release(run_dir: Path) -> None:
    """Give the lock back (closing the file releases the flock); a no-op if this process does not hold it."""
    fd = _HELD.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)
