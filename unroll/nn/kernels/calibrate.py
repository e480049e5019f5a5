"""Which time-loop strategy wins on this machine, measured once and remembered (like FFTW's wisdom).

The strategies (``split.py``: ``off``, ``batch``, ``wave``) win or lose by CPU and size: the batch split lost
at batch 50 on AMD and at 2 threads on Intel, the wavefront needs two layers and two cores. So ``auto`` asks
this module, which on first use per (cell, H, batch N, threads, CPU model) runs a small calibration: a
2-layer stack of the cell, float32, T = 50, forward and backward, each candidate in turn for a few
alternating rounds (about a second or two), the fastest by median time. The result is cached in
``calibration.json`` next to numba's cache of the kernels (the folder numba writes them to; or the file
``UNROLL_CALIBRATION`` names), so every later run reads it. ``unroll bench --calibrate`` measures again.
``UNROLL_SPLIT`` (or ``split.use``) still forces a strategy and skips all of this.

Not calibrated, and "off": one BLAS thread (nothing to share), H < MIN_HIDDEN or N < 2 x MIN_ROWS_PER_PART
(too small for a thread to pay). The file::

    {"format": 1, "machines": {CPU MODEL: {"lstm H=128 N=50 threads=2":
        {"choice": "wave", "seconds": {"off": 0.031, "batch": 0.036, "wave": 0.022}, "date": "2026-12-06"}}}}
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from unroll.nn.kernels import split

FORMAT = 1
MIN_HIDDEN = 64                   # smaller layers are not calibrated: auto runs "off"
CANDIDATES = ("off", "batch", "wave")
ROUNDS, T, LAYERS = 5, 50, 2

_memo: dict | None = None
_lock = threading.Lock()


def key(cell: str, H: int, N: int, threads: int) -> str:
    return f"{cell} H={H} N={N} threads={threads}"


def choice(cell: str, H: int, N: int) -> str:
    """The strategy auto runs for a layer of ``cell`` with H units and N rows at numpy's BLAS threads now:
    the cached one, or measured now (first use) and cached."""
    threads = split.max_parts()
    if threads < 2 or H < MIN_HIDDEN or N < 2 * split.MIN_ROWS_PER_PART:
        return "off"
    with _lock:
        entry = _entries().get(key(cell, H, N, threads))
        if entry is None or entry.get("choice") not in CANDIDATES:
            from unroll.nn import kernels
            kernels.notify(f"calibrating unroll's time loop for {cell} H={H}, batch {N}, {threads} threads "
                           f"(first use only: cached in {path()}) ...")
            entry = measure(cell, H, N)
            save(cell, H, N, threads, entry)
        return entry["choice"]


def measure(cell: str, H: int, N: int, rounds: int = ROUNDS) -> dict:
    """Median seconds of one forward and backward of a 2-layer ``cell`` stack per candidate, alternating."""
    from unroll.nn.stack import Stack
    rng = np.random.default_rng(0)
    stack = Stack(cell, H, H, LAYERS)
    params = stack.init(rng, np.float32)
    x = rng.standard_normal((T, N, H), dtype=np.float32)
    dhs = rng.standard_normal((T, N, H), dtype=np.float32)
    candidates = [c for c in CANDIDATES if c != "batch" or N >= 2 * split.MIN_ROWS_PER_PART]
    times = {c: [] for c in candidates}
    before = split._override
    try:
        for r in range(rounds + 1):                            # round 0 warms up (and compiles on a cold cache)
            for c in candidates:
                split.use(c)
                t0 = time.perf_counter()
                stack.backward(dhs, stack.forward(x, params)[2])
                if r:
                    times[c].append(time.perf_counter() - t0)
    finally:
        split.use(before)
    seconds = {c: float(np.median(ts)) for c, ts in times.items()}
    return {"choice": min(seconds, key=seconds.get), "seconds": seconds, "date": time.strftime("%Y-%m-%d")}


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


def _entries() -> dict:
    global _memo
    if _memo is None:
        _memo = read()["machines"].get(cpu_model(), {})
    return _memo
