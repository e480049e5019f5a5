"""How a layer's time loop uses the cores: the whole batch on one thread, or its rows split across threads.

The rows of a batch are independent inside a recurrent layer's time loop (step t of row n reads only row n
of step t - 1), so the loop can run as k parts of N/k rows each, every part on its own thread over the
nogil whole-layer kernels, each with a one-thread BLAS; the weight gradients that the parts accumulate
(the folded embedding's δP) are summed afterwards, and the large products outside the loop (``∂L/∂W_h``,
the output layer) keep numpy's multi-threaded BLAS. The prototype in issue #25 measured +37% for the LSTM
at H = 128 on 2 cores, and +11% at H = 512, where each thread streams the whole ``W_h`` from L3 per step.

Strategy: the environment variable ``UNROLL_SPLIT`` = ``auto`` (the default) | ``off`` | ``batch``, read at
every call, or ``use("off")`` ... / ``use(None)`` from code:

- ``off``: one part, BLAS at its own thread count (what unroll did before);
- ``batch``: k = numpy's BLAS thread count parts (at least MIN_ROWS_PER_PART rows each);
- ``auto``: what the calibration measured fastest on this machine for (cell, H, N, threads, CPU model),
  measured at first use and cached next to numba's cache (``calibrate.py``; ``unroll bench --calibrate``
  redoes it); "off" for small layers and one thread.

k follows numpy's BLAS thread count (``threadpool_limits(1)`` or ``OPENBLAS_NUM_THREADS=1`` give one part),
so the split never uses more cores than the user allowed BLAS.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from unroll.nn.kernels import blas, calibrate

STRATEGIES = ("auto", "off", "batch")
MIN_ROWS_PER_PART = 8            # fewer rows than this per part: do not split
MIN_HIDDEN = 64                  # auto: smaller layers are not calibrated and run "off"
CANDIDATES = ("off", "batch")
ROUNDS, BUDGET_S, T, LAYERS = 5, 1.5, 50, 2     # calibration: at most 5 timed rounds, while they fit in 1.5 s

_override: str | None = None
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_calibration_lock = threading.Lock()


def use(strategy: str | None) -> None:
    """Select the strategy from code ("auto", "off", "batch"), or None to follow ``UNROLL_SPLIT`` again."""
    if strategy is not None and strategy not in STRATEGIES:
        raise ValueError(f"split strategy must be one of {', '.join(STRATEGIES)} or None, got {strategy!r}")
    global _override
    _override = strategy


def strategy() -> str:
    """``use``'s choice, else ``UNROLL_SPLIT``, else "auto"."""
    choice = _override or os.environ.get("UNROLL_SPLIT", "auto").strip().lower() or "auto"
    if choice not in STRATEGIES:
        raise ValueError(f"UNROLL_SPLIT must be one of {', '.join(STRATEGIES)}, got {choice!r}")
    return choice


def parts(N: int, H: int, cell: str) -> list[tuple[int, int]]:
    """Row ranges [(r0, r1), ...] covering 0..N, one per thread, for a layer of ``cell`` with H units."""
    choice = strategy()
    if choice == "auto":
        choice = calibrated(cell, H, N)
    k = 1 if choice == "off" else min(max_parts(), N // MIN_ROWS_PER_PART)
    k = max(1, k)
    bounds = [N * i // k for i in range(k + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def stack_strategy(cell: str, H: int, N: int) -> str:
    """The strategy for a whole stack: the forced one (``use``, ``UNROLL_SPLIT``), or for ``auto`` the one
    the calibration measured fastest on this machine (``calibrated``)."""
    choice = strategy()
    return choice if choice != "auto" else calibrated(cell, H, N)


# ----------------------------------------------------------------------------------------------------
# auto: the strategy measured fastest on this machine (the file is calibrate.py's)

def calibrated(cell: str, H: int, N: int) -> str:
    """The strategy auto runs for a layer of ``cell`` with H units and N rows at numpy's BLAS threads now:
    the cached one, or measured now (first use) and cached."""
    threads = max_parts()
    if threads < 2 or H < MIN_HIDDEN or N < 2 * MIN_ROWS_PER_PART:
        return "off"
    with _calibration_lock:
        entry = calibrate.entry(calibrate.key(cell, H, N, threads))
        if entry is None or entry.get("choice") not in CANDIDATES:
            from unroll.nn import kernels
            kernels.notify(f"calibrating unroll's time loop for {cell} H={H}, batch {N}, {threads} threads "
                           f"(first use only: cached in {calibrate.path()}) ...")
            entry = measure(cell, H, N)
            calibrate.save(cell, H, N, threads, entry)
        return entry["choice"]


def measure(cell: str, H: int, N: int, rounds: int = ROUNDS, budget_s: float = BUDGET_S) -> dict:
    """Median seconds of one forward and backward of a 2-layer ``cell`` stack per candidate, alternating: a
    warm-up round, then up to ``rounds`` rounds while they fit in ``budget_s`` seconds (at least one)."""
    from unroll.nn.stack import Stack
    rng = np.random.default_rng(0)
    stack = Stack(cell, H, H, LAYERS)
    params = stack.init(rng, np.float32)
    x = rng.standard_normal((T, N, H), dtype=np.float32)
    dhs = rng.standard_normal((T, N, H), dtype=np.float32)
    times = {c: [] for c in CANDIDATES}
    before = _override
    try:
        for c in CANDIDATES:                                   # warm-up (compiles on a cold cache)
            _time(stack, c, x, params, dhs)
        start = time.perf_counter()
        while not times["off"] or (len(times["off"]) < rounds and time.perf_counter() - start < budget_s):
            for c in CANDIDATES:
                times[c].append(_time(stack, c, x, params, dhs))
    finally:
        use(before)
    seconds = {c: float(np.median(ts)) for c, ts in times.items()}
    return {"choice": min(seconds, key=seconds.get), "seconds": seconds, "rounds": len(times["off"]),
            "date": time.strftime("%Y-%m-%d")}


def _time(stack, strategy, x, params, dhs) -> float:
    use(strategy)
    t0 = time.perf_counter()
    stack.backward(dhs, stack.forward(x, params)[2])
    return time.perf_counter() - t0


def max_parts() -> int:
    """The most parts a batch is split into: numpy's BLAS threads now, at most the cores."""
    return min(blas.threads(), os.cpu_count() or 1)


def run(task, row_ranges: list[tuple[int, int]]) -> list:
    """``task(index, r0, r1)`` for every part: part 0 on this thread, the others on the pool's threads, all
    with a one-thread BLAS when there is more than one part; returns the results in part order."""
    if len(row_ranges) == 1:
        return [task(0, *row_ranges[0])]
    with blas.single_thread():
        futures = [_executor(len(row_ranges) - 1).submit(_in_worker, task, i, r0, r1)
                   for i, (r0, r1) in enumerate(row_ranges) if i > 0]
        try:
            first = task(0, *row_ranges[0])
        finally:
            rest = [f.result() for f in futures]           # wait for every part, even when part 0 raised
        return [first, *rest]


def _in_worker(task, i, r0, r1):
    blas.limit_this_thread()
    return task(i, r0, r1)


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool there on first use."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="unroll-split")
        return _pool
