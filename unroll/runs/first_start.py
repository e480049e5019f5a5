"""A new run's first start: what it must not leave behind when it fails, and the names it picks.

- ``first_start``: around the writing of a new run folder and its first training; if either fails before a
  checkpoint past step 0, what the run wrote is removed (the folder itself when the run created it), so the
  same command can be run again once its input is fixed. Checks that can fail run before, in ``run.start``.
- ``absolute_paths``: the settings that name files are stored absolute, so eval and --resume work anywhere.
- ``new_run_folder``: ``runs/<time>-<label>``, never shared by two runs started in the same second.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path

from unroll.runs import lock
from unroll.train import distributed


@contextlib.contextmanager
def first_start(trainer):
    """Around a new run's training: if it fails before any checkpoint past step 0, remove what it wrote.

    The folder itself goes when the run created it; in a folder that existed before, only the run's own
    files (RunFolder.FILES) go. A run that has written a later checkpoint is kept: it can be resumed.
    """
    try:
        yield
    except lock.RunFolderBusy:                           # another process's folder: not ours to remove
        raise
    except Exception:
        if trainer.world.rank == 0 and not _has_trained_checkpoint(trainer.run_dir):
            trainer.folder.release()
            trainer.folder.remove(whole=getattr(trainer, "new_folder", False))
        raise


def _has_trained_checkpoint(run_dir: Path) -> bool:
    return any(not p.name.startswith("step-00000000") for p in (run_dir / "checkpoints").glob("step-*"))


PATH_FIELDS = ("data", "valid")       # settings that name files: stored absolute, so any folder can resume


def absolute_paths(settings):
    """``settings`` (a dataclass) with its file fields (PATH_FIELDS; a comma-separated list of files too)
    made absolute where they name existing files; other values ('none', a missing file) stay as typed."""
    changes = {}
    for name in PATH_FIELDS:
        value = getattr(settings, name, None)
        if not isinstance(value, str) or not value:
            continue
        parts = [value] if Path(value).exists() else value.split(",")
        if all(Path(p).exists() for p in parts):
            changes[name] = ",".join(str(Path(p).resolve()) for p in parts)
    return replace(settings, **changes) if changes else settings


RESERVED: set = set()       # folders default_out_dir created for this process's new run


def new_run_folder(label: str) -> Path:
    """runs/<time>-<label>, or runs/<time>-<label>-2 ... when a run started in the same second took it (rank 0
    creates the folder, so two processes never share one); with P ranks, rank 0's name on every rank."""
    world, name = distributed.world(), ""
    if world.rank == 0:
        base = f"runs/{time.strftime('%Y%m%d-%H%M%S')}-{label}"
        Path("runs").mkdir(exist_ok=True)
        for k in range(1, 1000):
            name = base if k == 1 else f"{base}-{k}"
            try:
                Path(name).mkdir()
                break
            except FileExistsError:
                continue
        RESERVED.add(Path(name).resolve())
    return Path(world.broadcast_text(name))
