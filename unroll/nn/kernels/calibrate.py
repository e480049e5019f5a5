"""The calibration file: which thread strategy won on this machine, remembered (like FFTW's wisdom).

``split.calibrated`` measures, at the first use of a (cell, H, batch N, threads, CPU model), which strategy
(``off``, ``batch``, ``own``, ``data``) runs a 2-layer stack, the products around its loops and an output layer
fastest (``split.measure``), and keeps the answer here: ``calibration.json`` next to numba's cache of the
kernels (the folder numba writes them to; or the file ``UNROLL_CALIBRATION`` names), one entry per CPU
model and key, so every later run reads it. ``unroll bench --calibrate`` measures again. The file::

    {"format": 4, "machines": {CPU MODEL: {
        "blas": {"choice": "mkl", "ms": {"mkl": [0.15, 4.6], "openblas": [0.22, 5.7]}, "mkl_over_openblas": 0.75, ...},
        "lstm H=128 N=50 threads=2 blas=mkl":
        {"choice": "data", "seconds": {"off": 0.030, "batch": 0.034, "own": 0.026, "data": 0.024}, "rounds": 5,
         "date": "2026-12-07"}}}}

(the numbers illustrative). Format 2 (#34): "own" is a candidate and the output layer is timed too. Format
3 (lever 15): the "blas" entry, the race of ``mkl.py`` that chooses MKL or numpy's OpenBLAS for the
one-thread products on this CPU, and each strategy's key names the BLAS it was measured with. Format 4
(lever 17): "data" is a candidate (a whole step's batch split once). A file of
another format reads as empty, so its entries are measured again; the first save replaces it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FORMAT = 4
BLAS_KEY = "blas"          # the entry of mkl.py's race: which BLAS runs the one-thread products here

_memo: dict | None = None


def key(cell: str, H: int, N: int, threads: int, blas: str) -> str:
    """A strategy's entry: the layer, the batch, the threads, and which BLAS runs the one-thread products
    (``mkl.name()``)."""
    return f"{cell} H={H} N={N} threads={threads} blas={blas}"


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


def save(cell: str, H: int, N: int, threads: int, blas: str, entry: dict) -> None:
    """Add one strategy entry for this CPU (``save_entry``)."""
    save_entry(key(cell, H, N, threads, blas), entry)


def save_entry(key_: str, entry: dict) -> None:
    """Add one entry for this CPU (re-reading the file first, so entries of other processes are kept)."""
    global _memo
    file = path()
    data = read(file)
    data["machines"].setdefault(cpu_model(), {})[key_] = entry
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
