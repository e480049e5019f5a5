"""How a layer's time loop uses the cores: the whole batch on one thread, its rows split across threads, or
its hidden units split across threads that wait for each other at every step.

The rows of a batch are independent inside a recurrent layer's time loop (step t of row n reads only row n
of step t - 1), so the loop can run as k parts of N/k rows each, every part on its own thread over the
nogil whole-layer kernels, each with a one-thread BLAS; the weight gradients that the parts accumulate
(the folded embedding's δP) are summed afterwards, and the large products outside the loop (``∂L/∂W_h``,
the output layer) keep numpy's multi-threaded BLAS. The prototype in issue #25 measured +37% for the LSTM
at H = 128 on 2 cores, and +11% at H = 512, where each thread streams the whole ``W_h`` from L3 per step.
The hidden units split (``units``) gives each thread its own columns of ``W_h`` instead, at the price of a
barrier per step (``lstm_units.py`` has the scheme).

Strategy: the environment variable ``UNROLL_SPLIT`` = ``auto`` (the default) | ``off`` | ``batch`` |
``units``, read at every call, or ``use("off")`` ... / ``use(None)`` from code:

- ``off``: one part, BLAS at its own thread count (what unroll did before);
- ``batch``: k = numpy's BLAS thread count parts (at least MIN_ROWS_PER_PART rows each);
- ``units``: every whole-layer loop (``UNIT_CELLS``; the regularised LSTM's too) on k threads, each owning
  H/k of the hidden units (at least MIN_UNITS_PER_PART), synchronised per step by a spinning barrier
  (``lstm_units.py``, ``lstm_reg_units.py``, ``gru_units.py``, ``rnn_units.py``, ``sync.py``);
- ``auto``: what the calibration measured fastest on this machine for (cell, H, N, threads, CPU model),
  measured at first use and cached next to numba's cache (``calibrate.py``; ``unroll bench --calibrate``
  redoes it); "off" for small layers and one thread.

k follows numpy's BLAS thread count (``threadpool_limits(1)`` or ``OPENBLAS_NUM_THREADS=1`` give one part),
so the split never uses more cores than the user allowed BLAS. Parts 1..k-1 run on persistent worker
threads, one per part (``_workers``): the units split needs all its parts running at once.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import Future

import numpy as np

from unroll.nn.kernels import blas, calibrate

STRATEGIES = ("auto", "off", "batch", "units")
MIN_ROWS_PER_PART = 8            # fewer rows than this per part: do not split
MIN_UNITS_PER_PART = 1           # units: fewer hidden units than this per thread: do not split
UNIT_ALIGN = 16                  # units: boundaries on multiples of 16 units (64-byte lines in float32) when
                                 # H/k is at least 8 x 16 (64, 128, 256, 512 halve on whole lines anyway)
MIN_HIDDEN = 64                  # auto: smaller layers are not calibrated and run "off"
CANDIDATES = ("off", "batch")    # every cell's; UNIT_CELLS add "units" (candidates)
UNIT_CELLS = ("lstm", "gru", "rnn")
ROUNDS, BUDGET_S, T, LAYERS = 5, 1.5, 50, 2     # calibration: at most 5 timed rounds, while they fit in 1.5 s

_override: str | None = None
_workers: list = []
_pool_lock = threading.Lock()
_calibration_lock = threading.Lock()


def use(strategy: str | None) -> None:
    """Select the strategy from code ("auto", "off", "batch", "units"), or None to follow ``UNROLL_SPLIT`` again."""
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
    k = min(max_parts(), N // MIN_ROWS_PER_PART) if choice == "batch" else 1
    return _ranges(N, max(1, k))


def unit_ranges(H: int, N: int, cell: str) -> list[tuple[int, int]] | None:
    """Hidden-unit ranges [(u0, u1), ...] covering 0..H, one per thread, when the strategy for this layer is
    ``units`` (forced, or auto's calibrated choice) and it can split (``UNIT_CELLS``, k >= 2); else None."""
    if cell not in UNIT_CELLS:
        return None
    choice = strategy()
    if choice == "auto":
        choice = calibrated(cell, H, N)
    k = min(max_parts(), H // MIN_UNITS_PER_PART)
    if choice != "units" or k < 2 or not _sync_ok():
        return None
    if H < 8 * UNIT_ALIGN * k:                                 # aligning would unbalance the parts by > 6%
        return _ranges(H, k)
    inner = [UNIT_ALIGN * round(H * i / (k * UNIT_ALIGN)) for i in range(1, k)]
    return list(zip([0, *inner], [*inner, H]))


def candidates(cell: str) -> tuple[str, ...]:
    """The strategies the calibration times for ``cell``."""
    return CANDIDATES + (("units",) if cell in UNIT_CELLS and _sync_ok() else ())


def _ranges(total: int, k: int) -> list[tuple[int, int]]:
    bounds = [total * i // k for i in range(k + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _sync_ok() -> bool:
    from unroll.nn.kernels import sync
    return sync.available()


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
        tried = entry.get("seconds") if isinstance(entry, dict) else None
        if entry is None or entry.get("choice") not in candidates(cell) or not isinstance(tried, dict) \
                or not set(candidates(cell)) <= set(tried):             # measured before a new candidate came
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
    times = {c: [] for c in candidates(cell)}
    before = _override
    try:
        for c in times:                                        # warm-up (compiles on a cold cache)
            _time(stack, c, x, params, dhs)
        start = time.perf_counter()
        while not times["off"] or (len(times["off"]) < rounds and time.perf_counter() - start < budget_s):
            for c in times:
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
    """The most parts a loop is split into: numpy's BLAS threads now, at most the cores this process may run
    on (its CPU affinity where the platform has one: a units split on more threads than cores waits at
    every step)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(blas.threads(), cores or 1)


def run(task, row_ranges: list[tuple[int, int]], on_error=None) -> list:
    """``task(index, r0, r1)`` for every part: part 0 on this thread, part i > 0 on worker thread i - 1 (all
    at once: a part may wait for the others), all with a one-thread BLAS when there is more than one part;
    returns the results in part order. A part that raises calls ``on_error()`` first (the units split
    releases the parts waiting for it there)."""
    if len(row_ranges) == 1:
        return [task(0, *row_ranges[0])]
    with blas.single_thread():
        futures = _submit(task, row_ranges, on_error)
        try:
            first = _part(task, 0, *row_ranges[0], on_error, False)
        finally:
            rest = [f.result() for f in futures]           # wait for every part, even when part 0 raised
        return [first, *rest]


def _part(task, i, r0, r1, on_error, in_worker):
    try:
        if in_worker:
            blas.limit_this_thread()
        return task(i, r0, r1)
    except BaseException:
        if on_error is not None:
            on_error()
        raise


class _Worker:
    """A persistent thread running the calls put on its own queue, in order (a part's thread)."""

    def __init__(self, index: int):
        self.calls: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, name=f"unroll-split-{index}", daemon=True).start()

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        self.calls.put((future, fn, args))
        return future

    def _loop(self) -> None:
        while True:
            future, fn, args = self.calls.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as error:                 # noqa: BLE001 - handed to the caller
                future.set_exception(error)


def _forget_pool() -> None:
    """In a forked child the workers' threads do not exist: start new ones there on first use."""
    global _workers
    _workers = []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _submit(task, row_ranges, on_error) -> list:
    """Parts 1.. on workers 0.., started on first need and kept for the process. One call's parts are put
    on the queues under one lock, so every worker sees the calls of concurrent callers in the same order
    (a units call waits for all its parts: interleaved orders could wait on each other forever)."""
    with _pool_lock:
        while len(_workers) < len(row_ranges) - 1:
            _workers.append(_Worker(len(_workers)))
        return [_workers[i - 1].submit(_part, task, i, r0, r1, on_error, True)
                for i, (r0, r1) in enumerate(row_ranges) if i]
