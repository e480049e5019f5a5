"""How a layer's time loop (and, under "own", every large product) uses the cores: the whole batch on one
thread, or its rows split across threads.

The rows of a batch are independent inside a recurrent layer's time loop (step t of row n reads only row n
of step t - 1), so the loop can run as k parts of N/k rows each, every part on its own thread over the
nogil whole-layer kernels, each with a one-thread BLAS; the weight gradients that the parts accumulate
(the folded embedding's δP) are summed afterwards, and the large products outside the loop (``∂L/∂W_h``,
the output layer) keep numpy's multi-threaded BLAS, except under "own" (below).

Strategy: the environment variable ``UNROLL_SPLIT`` = ``auto`` (the default) | ``off`` | ``batch`` |
``own`` | ``data``, read at every call, or ``use("off")`` ... / ``use(None)`` from code:

- ``off``: one part, BLAS at its own thread count;
- ``batch``: k = numpy's BLAS thread count parts (at least MIN_ROWS_PER_PART rows each);
- ``own``: no OpenBLAS threads at all (docs/performance.md, lever 13). numpy's BLAS is held at one thread
  for the whole process (``blas.hold``, from the first call that reads the strategy until another strategy
  is chosen), the layer loops run as ``batch``, and every large product outside them (``matmul``: the
  linear layers of ``ops.py``, the cells' ``∂L/∂W_h``) runs as k blocks of its result, one per thread at one
  BLAS thread each. OpenBLAS's idle worker, which busy-waits ~0.1 s after every multi-threaded call, then
  never runs; k is the BLAS thread count the user allowed, read when ``own`` takes hold;
- ``data``: the batch split once per training step, not per loop (lever 17, ``kernels/data_parallel.py``):
  each thread runs its rows through the whole model (forward, loss, backward) at one BLAS thread, the
  parts' gradients summed after; numpy's BLAS held at one thread as under "own". Inside a part every
  strategy reads "off" (``in_part``). A model whose step cannot split (one that draws dropout masks, a
  task other than the language model) and a stack run outside a step (evaluation) run as "own";
- ``auto``: the candidate ("off", "batch", "own", "data") the calibration measured fastest on this machine for
  (cell, H, N, threads, CPU model), at first use, cached next to numba's cache (``calibrate.py``; ``unroll
  bench --calibrate`` redoes it); "off" for small layers and one thread. Each is timed on what it changes
  (``measure``): a 2-layer stack's loops and the products around them, and an output layer.

auto's choice is per key but "own"'s hold is per process: the choice of the stack that asked last (every
layer loop asks, ``stack_strategy``) is the process's until the next asks, so "own" holds BLAS at one
thread and splits every ``matmul`` from the first layer loop on (a training run asks one key every step),
and "off" or "batch" release it. Chosen so rather than a process-wide rule ("own" whenever BLAS has two
threads): "own" splits large products worse than OpenBLAS does (docs/performance.md, lever 13), so where it
wins depends on the sizes and the CPU, which only a measurement there can tell. Two stacks of different
choices in one process hold and release BLAS at each switch (one ``set_num_threads``; the first ~0.1 s
after a switch to "own" runs beside OpenBLAS's still-spinning worker, see ``measure``). Module state
(``_override``, ``_auto_choice``, the hold) is the process's: one training thread at a time.

k follows numpy's BLAS thread count (``threadpool_limits(1)`` or ``OPENBLAS_NUM_THREADS=1`` give one part,
and make ``own`` the ``off`` path exactly), so the split never uses more cores than the user allowed BLAS.

numpy's BLAS (``blas.py``, which imports numba) is loaded only where a strategy needs it, so that ``ops.py``
can ask this module about every product without importing numba (sampling's start-up).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from unroll.nn.kernels import calibrate, mkl

STRATEGIES = ("auto", "off", "batch", "own", "data")
MIN_ROWS_PER_PART = 8            # fewer rows than this per part (or block of a product): do not split
MIN_PRODUCT = 1 << 22            # own: a product of fewer multiply-adds (8.4 MFLOP) is not split
MIN_HIDDEN = 64                  # auto: smaller layers are not calibrated and run "off"
CANDIDATES = ("off", "batch", "own", "data")
LAYER_STRATEGIES = ("off", "batch", "own")   # what a stack runs (data splits a whole step, not a stack)
HOLDING = ("own", "data")        # the strategies that hold numpy's BLAS at one thread and split every product
ROUNDS, BUDGET_S, T, LAYERS = 5, 1.5, 50, 2     # calibration: at most 5 timed rounds, while they fit in 1.5 s
OUTPUT = 65                      # calibration: the output layer's width (a character vocabulary; see measure)
WARM_S = 0.15                    # calibration: untimed passes after each switch, at least this long (see measure)

_override: str | None = None
_holding = False                 # True while "own" holds numpy's BLAS at one thread (blas.hold)
_auto_choice: str | None = None  # auto: the calibration's choice for the stack that asked last (None: none yet)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_calibration_lock = threading.Lock()
_part = threading.local()        # .active: this thread runs one part of a split (run)


def use(strategy: str | None) -> None:
    """Select the strategy from code ("auto", "off", "batch", "own", "data"), or None to follow
    ``UNROLL_SPLIT`` again. Leaving "own" or "data" gives numpy's BLAS its thread count back now (the next
    call holds it again if ``UNROLL_SPLIT`` says one of them)."""
    if strategy is not None and strategy not in STRATEGIES:
        raise ValueError(f"split strategy must be one of {', '.join(STRATEGIES)} or None, got {strategy!r}")
    global _override, _auto_choice
    _override, _auto_choice = strategy, None
    if strategy not in HOLDING:
        _release()


def strategy() -> str:
    """``use``'s choice, else ``UNROLL_SPLIT``, else "auto"."""
    choice = _override or os.environ.get("UNROLL_SPLIT", "auto").strip().lower() or "auto"
    if choice not in STRATEGIES:
        raise ValueError(f"UNROLL_SPLIT must be one of {', '.join(STRATEGIES)}, got {choice!r}")
    return choice


def parts(N: int, H: int, cell: str) -> list[tuple[int, int]]:
    """Row ranges [(r0, r1), ...] covering 0..N, one per thread, for a layer of ``cell`` with H units."""
    k = 1 if stack_strategy(cell, H, N) == "off" else min(max_parts(), N // MIN_ROWS_PER_PART)
    return _ranges(N, k)


def stack_strategy(cell: str, H: int, N: int) -> str:
    """The strategy for a whole stack: the forced one (``use``, ``UNROLL_SPLIT``), or for ``auto`` the one
    the calibration measured fastest on this machine (``calibrated``), which then holds for the process
    (``_resolve``: BLAS held at one thread when it is "own", released when it is not). A stack too small to
    calibrate (``_too_small``: a sampled row, a small batch) runs "off" and leaves the process's choice as
    it is, so sampling between training steps does not release and retake "own"'s hold."""
    global _auto_choice
    if in_part():
        return "off"
    if strategy() == "auto":
        if _too_small(H, N):
            _resolve()
            return "off"
        _auto_choice = calibrated(cell, H, N, layers=True)
    choice = _resolve()
    return "own" if choice == "data" else choice


def step_parts(cell: str, H: int, N: int) -> list[tuple[int, int]] | None:
    """Row ranges for a training step that splits its batch across threads ("data": forced, or auto's
    choice for the stack's key), taking the strategy's hold (BLAS at one thread); None when the step runs
    whole (another strategy, inside a part, one thread allowed, fewer than two parts' rows)."""
    global _auto_choice
    if in_part() or max_parts() < 2 or N < 2 * MIN_ROWS_PER_PART:
        return None
    if strategy() == "auto":
        if _too_small(H, N) or calibrated(cell, H, N) != "data":
            return None
        _auto_choice = "data"
    return _step_ranges(N) if _resolve() == "data" else None


def _step_ranges(N: int) -> list[tuple[int, int]]:
    return _ranges(N, min(max_parts(), N // MIN_ROWS_PER_PART))


def in_part() -> bool:
    """True on a thread while it runs one part of a split (``run``): every strategy then reads "off"."""
    return getattr(_part, "active", False)


def _too_small(H: int, N: int) -> bool:
    """auto runs "off" without calibrating: one thread allowed, H < MIN_HIDDEN or fewer than two parts' rows."""
    return max_parts() < 2 or H < MIN_HIDDEN or N < 2 * MIN_ROWS_PER_PART


def _ranges(size: int, k: int) -> list[tuple[int, int]]:
    """max(1, k) ranges [(s0, s1), ...] of near-equal length covering 0..size."""
    k = max(1, k)
    bounds = [size * i // k for i in range(k + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


# ----------------------------------------------------------------------------------------------------
# own: every large product split across this module's threads, numpy's BLAS at one thread throughout

def matmul(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (then ``+= bias``, a (P,) row added in place) for 2-D a (M, K) and b (K, P). Under "own", a
    product of at least MIN_PRODUCT multiply-adds runs as ``blocks(M, P)``: k blocks of the result, each an
    ``np.matmul`` into its own slice of one output array (numpy hands a slice or a transposed view to gemm
    as it is: no copy, no sum of blocks, no pass after) and its bias added there, part 0 on this thread and
    the others on the pool (``run``), every one at one BLAS thread. Other strategies, and k = 1: numpy's
    ``a @ b`` itself, the same operations as before this strategy existed."""
    M, K = a.shape
    P = b.shape[1]
    large = M * K * P >= MIN_PRODUCT
    by, ranges = ("rows", [(0, M)]) if not large or _resolve() not in HOLDING else blocks(M, P)
    one = large and mkl.available() and (len(ranges) > 1 or _blas().threads() == 1)   # MKL's (lever 15)
    if len(ranges) == 1 and not one:
        out = a @ b
        if bias is not None:
            out += bias
        return out
    out = np.empty((M, P), np.result_type(a.dtype, b.dtype))

    def block(_, s0, s1):
        if by == "rows":
            _product(a[s0:s1], b, out[s0:s1], one)
            if bias is not None:
                out[s0:s1] += bias
        else:
            _product(a, b[:, s0:s1], out[:, s0:s1], one)
            if bias is not None:
                out[:, s0:s1] += bias[s0:s1]
    run(block, ranges)
    return out


def _product(a, b, out, one):
    """out = a @ b: MKL's sequential gemm for a product that runs at one thread (``one``) when it takes the
    operands' layout, else numpy's."""
    if not (one and mkl.gemm(a, b, out)):
        np.matmul(a, b, out=out)


def blocks(M: int, P: int) -> tuple[str, list[tuple[int, int]]]:
    """How ``matmul`` splits an (M, P) result into k = max_parts() blocks of at least MIN_ROWS_PER_PART rows
    or columns: ("rows", ranges of rows) when P <= M, else ("columns", ranges of columns). A row block reads
    its rows of a and all of b, a column block all of a and its columns of b, so the longer side is cut:
    the blocks read M·K + k·K·P operand elements against k·M·K + K·P."""
    by, size = ("rows", M) if P <= M else ("columns", P)
    return by, _ranges(size, min(max_parts(), size // MIN_ROWS_PER_PART))


def _resolve() -> str:
    """``strategy()`` (for "auto", the choice of the stack that asked last, "auto" before any did), with
    numpy's BLAS held at one thread while it is "own" (``blas.hold``) and given its thread count back once
    another strategy is chosen."""
    global _holding
    if in_part():
        return "off"
    choice = strategy()
    if choice == "auto":
        choice = _auto_choice or "auto"
    if choice in HOLDING:
        _blas().hold()
        _holding = True
    elif _holding:
        _release()
    return choice


def _release() -> None:
    global _holding
    if _holding:
        _blas().release()
        _holding = False


def _blas():
    from unroll.nn.kernels import blas          # numba with it: loaded where a strategy needs numpy's BLAS
    return blas


# ----------------------------------------------------------------------------------------------------
# auto: the strategy measured fastest on this machine (the file is calibrate.py's)

def calibrated(cell: str, H: int, N: int, layers: bool = False) -> str:
    """The strategy auto runs for a layer of ``cell`` with H units and N rows at numpy's BLAS threads now:
    the cached one, or measured now (first use) and cached; with ``layers`` the fastest a stack can run on
    its own (``LAYER_STRATEGIES``: a stack outside a split step, where "data" won)."""
    threads = max_parts()
    if _too_small(H, N):
        return "off"
    with _calibration_lock:
        entry = calibrate.entry(calibrate.key(cell, H, N, threads, mkl.name()))
        if entry is None or entry.get("choice") not in CANDIDATES:
            from unroll.nn import kernels
            kernels.notify(f"calibrating unroll's thread strategy ({', '.join(CANDIDATES)}) for {cell} H={H}, "
                           f"batch {N}, {threads} threads (first use only: cached in {calibrate.path()}) ...")
            entry = measure(cell, H, N)
            calibrate.save(cell, H, N, threads, mkl.name(), entry)
        seconds = entry.get("seconds", {})
        if layers and entry["choice"] not in LAYER_STRATEGIES:
            return min(LAYER_STRATEGIES, key=lambda c: seconds.get(c, float("inf")))
        return entry["choice"]


def measure(cell: str, H: int, N: int, rounds: int = ROUNDS, budget_s: float = BUDGET_S) -> dict:
    """Median seconds of one training pass of a 2-layer ``cell`` stack and an output layer per candidate,
    alternating: a warm-up round, then up to ``rounds`` rounds while they fit in ``budget_s`` seconds (at
    least one).

    What is timed is what the candidates change: the layers' time loops (one part, or the batch split) and
    the products around them that "own" splits and the others leave to OpenBLAS's threads: each layer's
    input projection, ``dx``, ``∂L/∂W_x`` and ``∂L/∂W_h``, and an output layer of OUTPUT units forward and
    backward. The layers are the cell's own forward and backward, run as ``Stack`` runs them, the module
    found in the cell registry by name (this module imports no cell or stack at load: the cells' products
    call ``matmul`` here). Shapes are the key's H and N, T = 50. The model's own output width is not known
    where a layer loop asks (the stack runs before the output layer): a character vocabulary stands in,
    and a word model's wide output layer (where OpenBLAS's split of one large product may beat "own"'s
    blocks) is not in the key.

    Each candidate is timed on a pass that follows at least WARM_S seconds of untimed passes under it (and
    at least one), with no pause: what a run under it sees at every step. The first passes after a switch
    are not: after the last multi-threaded call of "off" or "batch", OpenBLAS's idle worker busy-waits
    about 0.1 s (docs/performance.md, lever 10) on the second core that "own" runs on, which a run under
    "own" never has (no OpenBLAS thread wakes). Measured on the Intel Xeon (wave 11, LSTM H = 128, 2
    threads): "own"'s passes right after "off" took 47, 47, 31, then 27 ms, against off's steady 29; a
    first-pass calibration read own at 44-46 ms and chose "off" for every H = 128 configuration. A pause
    is no cure: after a 0.2 s sleep every "own" pass took 47 ms (the idle second core comes back slowly),
    after 0.01 s 28 ms."""
    from unroll.nn.cells import CELLS
    module = CELLS[cell].load()
    rng = np.random.default_rng(0)
    layers = [(module, module.init(H, H, rng, np.float32)) for _ in range(LAYERS)]
    out = (rng.standard_normal((H, OUTPUT), dtype=np.float32) * (1.0 / H ** 0.5), np.zeros(OUTPUT, np.float32))
    x = rng.standard_normal((T, N, H), dtype=np.float32)
    dy = rng.standard_normal((T, N, OUTPUT), dtype=np.float32)
    times = {c: [] for c in CANDIDATES}
    before = _override
    try:
        for c in CANDIDATES:                                   # warm-up (compiles on a cold cache)
            _time(layers, out, c, x, dy)
        start = time.perf_counter()
        while not times["off"] or (len(times["off"]) < rounds and time.perf_counter() - start < budget_s):
            for c in CANDIDATES:
                times[c].append(_time(layers, out, c, x, dy))
    finally:
        use(before)
    seconds = {c: float(np.median(ts)) for c, ts in times.items()}
    return {"choice": min(seconds, key=seconds.get), "seconds": seconds, "rounds": len(times["off"]),
            "date": time.strftime("%Y-%m-%d")}


def _time(layers, out, strategy, x, dy) -> float:
    """Seconds of one forward and backward through ``layers`` [(cell module, params), ...] and the output
    layer ``out`` (W, b) under ``strategy``, timed after at least WARM_S seconds of untimed passes under it
    (and at least one; see ``measure``)."""
    use(strategy)
    one = _parts_pass(layers, out, x, dy) if strategy == "data" else (lambda: _pass(layers, out, x, dy))
    start = time.perf_counter()
    one()
    while time.perf_counter() - start < WARM_S:
        one()
    t0 = time.perf_counter()
    one()
    return time.perf_counter() - t0


def _parts_pass(layers, out, x, dy):
    """"data"'s pass: ``_pass`` on each part's rows (contiguous copies, as a split step's parts make their
    own arrays), the parts on threads (``run``)."""
    ranges = _step_ranges(x.shape[1])
    rows = [(np.ascontiguousarray(x[:, a:b]), np.ascontiguousarray(dy[:, a:b])) for a, b in ranges]
    return lambda: run(lambda i, a, b: _pass(layers, out, *rows[i]), ranges)


def _pass(layers, out, x, dy) -> None:
    """One forward and backward of the calibration's stack and output layer, as a training step runs them."""
    caches = []
    for module, params in layers:
        x, _, cache = module.forward(x, params)
        caches.append(cache)
    h, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    matmul(h, *out)                              # the output layer, as ops.linear_forward / _backward make it
    matmul(h.T, dy2), dy2.sum(axis=0)            # (ops imports this module, so it is not imported here)
    dhs = matmul(dy2, out[0].T).reshape(x.shape)
    for (module, _), cache in zip(reversed(layers), reversed(caches)):
        dhs = module.backward(dhs, cache)[0]


def max_parts() -> int:
    """The most parts a batch (or a product, under "own") is split into: numpy's BLAS threads the user
    allowed (``blas.allowed``: its count now, or the one "own" found before holding it at one), at most the
    cores."""
    return min(_blas().allowed(), os.cpu_count() or 1)


def run(task, row_ranges: list[tuple[int, int]]) -> list:
    """``task(index, r0, r1)`` for every part: part 0 on this thread, the others on the pool's threads, all
    with a one-thread BLAS when there is more than one part; returns the results in part order."""
    if len(row_ranges) == 1:
        return [task(0, *row_ranges[0])]
    with _blas().single_thread():
        futures = [_executor(len(row_ranges) - 1).submit(_in_worker, task, i, r0, r1)
                   for i, (r0, r1) in enumerate(row_ranges) if i > 0]
        try:
            first = _as_part(task, 0, *row_ranges[0])
        finally:
            rest = [f.result() for f in futures]           # wait for every part, even when part 0 raised
        return [first, *rest]


def _in_worker(task, i, r0, r1):
    _blas().limit_this_thread()
    return _as_part(task, i, r0, r1)


def _as_part(task, i, r0, r1):
    """``task(i, r0, r1)`` with ``in_part()`` true on this thread (nested splits run "off")."""
    before, _part.active = in_part(), True
    try:
        return task(i, r0, r1)
    finally:
        _part.active = before


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
