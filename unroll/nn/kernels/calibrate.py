"""The calibration file: which thread strategy won on this machine, remembered (like FFTW's wisdom).

``split.calibrated`` measures, at the first use of a (cell, H, batch N, threads, CPU model), which strategy
(``off``, ``batch``, ``own``) runs a 2-layer stack, the products around its loops and an output layer
fastest (``split.measure``), and keeps the answer here: ``calibration.json`` next to numba's cache of the
kernels (the folder numba writes them to; or the file ``UNROLL_CALIBRATION`` names), one entry per CPU
model and key, so every later run reads it. ``unroll bench --calibrate`` measures again. The file::

    {"format": 2, "machines": {CPU MODEL: {"lstm H=128 N=50 threads=2":
        {"choice": "own", "seconds": {"off": 0.030, "batch": 0.034, "own": 0.026}, "rounds": 5,
         "date": "2026-12-07"}}}}

(the numbers illustrative). Format 2 (#34): "own" is a candidate and the output layer is timed too. A file
of format 1 (choices between ``off`` and ``batch``, timed on the stack alone) reads as empty, so its
entries are measured again rather than taken as choices among all three; the first save replaces it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FORMAT = 2

_memo: dict | None = None


def key(cell: str, H: int, N: int, threads: int) -> str:
    return f"{cell} H={H} N={N} threads={threads}"


def path() -> Path:
    """``UNROLL_CALIBRATION``, else calibration.json in the folder numba caches the kernels in."""
    named = os.environ.get("UNROLL_CALIBRATION", "").strip()
    if named:
        return Path(named)
    from unroll.nn import kernels
    return Path(kernels.load("optim").adam._cache._cache_path) / "calibration.json"


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else the platform's processor string."""
    import platform
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine() or "unknown"


def read(file: Path | None = None) -> dict:
    """The whole file ({"format", "machines"}); an empty one when missing, unreadable or of another format."""
    try:
        data = json.loads((file or path()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"format": FORMAT, "machines": {}}
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("machines"), dict):
        return {"format": FORMAT, "machines": {}}
    return data


def save(cell: str, H: int, N: int, threads: int, entry: dict) -> None:
    """Add one entry for this CPU (re-reading the file first, so entries of other processes are kept)."""
    global _memo
    file = path()
    data = read(file)
    data["machines"].setdefault(cpu_model(), {})[key(cell, H, N, threads)] = entry
    _memo = data["machines"][cpu_model()]
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, file)                                  # readers never see half a file
    except OSError:
        pass                                                   # a read-only place: remembered for this process


def forget() -> None:
    """Drop this process's copy of the file (tests, and ``unroll bench --calibrate``)."""
    global _memo
    _memo = None


def entry(key_: str) -> dict | None:
    """This CPU's cached entry for a key, or None."""
    return _entries().get(key_)


def _entries() -> dict:
    global _memo
    if _memo is None:
        _memo = read()["machines"].get(cpu_model(), {})
    return _memo
