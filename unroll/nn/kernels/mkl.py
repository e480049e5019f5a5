"""Intel MKL for every product that runs at one thread, and ``W_h`` packed once per layer call (#34, lever 15).

Measured on the Intel Xeon (docs/performance.md, lever 15): MKL's sequential sgemm beats numpy's OpenBLAS
on every product of a training step at one thread, and its packed interface (``cblas_sgemm_pack`` once,
``cblas_sgemm_compute`` per step) beats both on the loops' per-step products, where OpenBLAS packs the
unchanging ``W_h`` again at every one of the T steps: (50x128) @ (128x512) 73 -> 55 us, (50x512) @
(512x2048) 1,128 -> 747 us. torch's wheel links MKL too.

Where it runs (the rest stays numpy's OpenBLAS, at its own thread count):

- the whole-layer loops' per-step products, ``h_{t-1} W_h`` and ``δ^{a_t} W_hᵀ``, whenever the loop's part
  runs at one BLAS thread (one thread allowed, or a part of the batch split: "batch", "own"): ``packed``
  packs ``W_h`` (or ``W_hᵀ``, from ``W_h`` itself: no transposed copy) for the part's rows at the start of
  each layer call; the loops call ``blas.packed_matmul``;
- ``split.matmul``'s products that run at one thread ("own"'s blocks; any product when numpy's BLAS has one
  thread): ``gemm``, which takes a transposed view as a transpose flag, as numpy does.

MKL runs **sequential** (``MKL_Set_Threading_Layer`` before any other MKL call): it never starts a thread,
so nothing spins after a call (the reason "own" exists, lever 13), and a product split across unroll's own
threads runs one MKL call per thread. float64 runs the same way (``dgemm``), so the tests' float64 checks
cover this path.

Which BLAS: ``UNROLL_BLAS`` = ``auto`` (default: MKL when the ``mkl`` wheel is installed, a dependency of
unroll on x86-64, and it won the race on this CPU model: ``_race`` times a per-step and a sequence-wide
product at one thread under each, once per CPU model, cached in calibrate.py's file under "blas") | ``mkl``
(refused in one line when MKL is not found) | ``openblas`` (numpy's alone, as before this lever). Read once, when the kernels are first linked (the compiled loops call MKL's functions
by the names registered here; without MKL they are bound to stubs that are never called).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
import threading

import numpy as np

CHOICES = ("auto", "mkl", "openblas")
ROW_MAJOR, NO_TRANS, TRANS, PACKED, B_MATRIX = 101, 111, 112, 151, 162     # CBLAS / MKL enums
SEQUENTIAL = 1                                                            # MKL_THREADING_SEQUENTIAL

_state: dict | None = None
_lock = threading.Lock()
_buffers = threading.local()
_opened: set = set()                   # the real paths of the MKLs this module opened (not "elsewhere")

_I, _L, _P = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
# cblas_?gemm_compute_64(layout, transa, transb (MKL_INT), m, n, k, a, lda, b, ldb, beta, c, ldc)
_COMPUTE = {np.float32: ctypes.CFUNCTYPE(None, _I, _L, _L, _L, _L, _L, _P, _L, _P, _L, ctypes.c_float, _P, _L),
            np.float64: ctypes.CFUNCTYPE(None, _I, _L, _L, _L, _L, _L, _P, _L, _P, _L, ctypes.c_double, _P, _L)}
_PREFIX = {np.float32: "s", np.float64: "d"}


def choice() -> str:
    """``UNROLL_BLAS`` ("auto" when unset), or a one-line ValueError naming the variable."""
    value = os.environ.get("UNROLL_BLAS", "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"UNROLL_BLAS must be one of {', '.join(CHOICES)}, got {value!r}")
    return value


def available() -> bool:
    """True when MKL runs this process's one-thread products (found, and ``UNROLL_BLAS`` is not openblas)."""
    return _find()["lib"] is not None


def name() -> str:
    """"mkl" or "openblas": which BLAS runs the one-thread products here (calibrate.py's keys name it)."""
    return "mkl" if available() else "openblas"


def version() -> str | None:
    """MKL's version string, or None when it does not run here."""
    return _find().get("version")


def _find() -> dict:
    global _state
    if _state is not None:                  # loaded: no lock on the products' path
        return _state
    with _lock:
        if _state is None:
            _state = _load()
        return _state


def _load() -> dict:
    wanted = choice()
    elsewhere = wanted != "openblas" and _loaded_elsewhere()
    lib = None if wanted == "openblas" or elsewhere else _open()
    if lib is None and wanted == "mkl":
        raise ValueError("UNROLL_BLAS=mkl but numpy's own BLAS is an MKL, whose threads unroll leaves to numpy"
                         if elsewhere else "UNROLL_BLAS=mkl but Intel MKL was not found (pip install mkl)")
    state = {"lib": lib, "found": lib, "stubs": []}      # lib: MKL runs the products; found: it is loaded
    if lib is None:
        return state
    lib.MKL_Set_Threading_Layer(SEQUENTIAL)       # before any other MKL call: no threads of its own
    for dtype, p in _PREFIX.items():
        scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
        gemm = getattr(lib, f"cblas_{p}gemm_64")
        gemm.argtypes = [_I, _I, _I, _L, _L, _L, scalar, _P, _L, _P, _L, scalar, _P, _L]
        size = getattr(lib, f"cblas_{p}gemm_pack_get_size_64")
        size.argtypes, size.restype = [_I, _L, _L, _L], ctypes.c_size_t
        pack = getattr(lib, f"cblas_{p}gemm_pack_64")
        pack.argtypes = [_I, _I, _I, _L, _L, _L, scalar, _P, _L, _P]
        state[dtype] = {"gemm": gemm, "size": size, "pack": pack}
    buf = ctypes.create_string_buffer(256)
    lib.MKL_Get_Version_String(buf, 256)
    state["version"] = buf.value.decode(errors="replace").strip()
    if wanted == "auto" and _chosen(state) != "mkl":
        state["lib"] = None
    return state


def race_again() -> dict | None:
    """``unroll bench --calibrate``: run the race again on this CPU, cache it, and follow it from now on
    (None when MKL is not loaded or ``UNROLL_BLAS`` forces a choice)."""
    state = _find()
    if state["found"] is None or choice() != "auto":
        return None
    from unroll.nn.kernels import calibrate
    entry = _race(state)
    calibrate.save_entry(calibrate.BLAS_KEY, entry)
    state["race"], state["lib"] = entry, (state["found"] if entry["choice"] == "mkl" else None)
    return entry


def _chosen(state: dict) -> str:
    """auto's BLAS on this CPU: the cached race (calibrate.py's file, key "blas"), else run now and cached."""
    from unroll.nn.kernels import calibrate
    entry = calibrate.entry(calibrate.BLAS_KEY)
    if entry is None or entry.get("choice") not in ("mkl", "openblas"):
        entry = _race(state)
        calibrate.save_entry(calibrate.BLAS_KEY, entry)
    state["race"] = entry
    return entry["choice"]


RACE_SHAPES = ((50, 256, 1024), (1600, 256, 1024))      # a per-step product, a sequence-wide one
RACE_ROUNDS, RACE_CALLS = 3, 8


def _race(state: dict) -> dict:
    """Milliseconds per product at one thread, MKL (the per-step shape packed once, as the loops run it)
    against numpy's OpenBLAS, RACE_ROUNDS alternating rounds of RACE_CALLS calls per shape (about 0.2 s);
    MKL is chosen when its times are lower in geometric mean. Run once per CPU model: on an AMD CPU, where
    MKL's own kernels may not be its best, OpenBLAS may win."""
    import time
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(0)
    fns = state[np.float32]
    seconds = {"mkl": [], "openblas": []}
    with threadpool_limits(1, user_api="blas"):
        for M, K, P in RACE_SHAPES:
            a, b = rng.standard_normal((M, K), dtype=np.float32), rng.standard_normal((K, P), dtype=np.float32)
            out = np.empty((M, P), np.float32)
            step = M <= 64
            size = int(fns["size"](B_MATRIX, M, P, K))
            buf = np.empty(size // 4 + 16, np.float32)
            fns["pack"](ROW_MAJOR, B_MATRIX, NO_TRANS, M, P, K, 1.0, b.ctypes.data, P, buf.ctypes.data)

            def with_mkl():
                if step:
                    _compute(state["found"], a, buf, out)
                else:
                    fns["gemm"](ROW_MAJOR, NO_TRANS, NO_TRANS, M, P, K, 1.0, a.ctypes.data, K, b.ctypes.data, P,
                                0.0, out.ctypes.data, P)
            runs = {"mkl": with_mkl, "openblas": lambda: np.matmul(a, b, out=out)}
            best = {name: float("inf") for name in runs}
            for round_ in range(RACE_ROUNDS + 1):                 # round 0 warms up, untimed
                for name, run in runs.items():
                    t0 = time.perf_counter()
                    for _ in range(RACE_CALLS):
                        run()
                    if round_:
                        best[name] = min(best[name], (time.perf_counter() - t0) / RACE_CALLS)
            for name in runs:
                seconds[name].append(round(best[name] * 1e3, 4))
    ratio = float(np.exp(np.mean(np.log(np.array(seconds["mkl"]) / np.array(seconds["openblas"])))))
    return {"choice": "mkl" if ratio < 1.0 else "openblas", "ms": seconds, "mkl_over_openblas": round(ratio, 3),
            "shapes": [list(s) for s in RACE_SHAPES], "date": time.strftime("%Y-%m-%d")}


def _loaded_elsewhere() -> bool:
    """True when an MKL is already in the process before this module opens one (a numpy built on MKL, as
    conda's): its threading is numpy's to set, so unroll leaves it alone and keeps numpy's BLAS throughout."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return False
    return any(info.get("internal_api") == "mkl" and os.path.realpath(info.get("filepath", "")) not in _opened
               for info in threadpool_info())


def _open():
    """libmkl_rt from the ``mkl`` wheel (the environment's lib/, or Library/bin on Windows), else the
    system's; None when there is none or it lacks the ILP64 packed interface."""
    names = []
    for root in dict.fromkeys((sys.prefix, sys.base_prefix)):
        names += sorted(glob.glob(os.path.join(root, "lib", "libmkl_rt.so*")), reverse=True)
        names += sorted(glob.glob(os.path.join(root, "Library", "bin", "mkl_rt*.dll")), reverse=True)
    found = ctypes.util.find_library("mkl_rt")
    names += [found] if found else []
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            lib.cblas_sgemm_compute_64, lib.cblas_dgemm_pack_64, lib.MKL_Set_Threading_Layer   # noqa: B018
            _opened.add(os.path.realpath(name))
            return lib
        except (OSError, AttributeError):
            continue
    return None


def register(add_symbol) -> None:
    """Bind the names the compiled loops call (``blas.packed_matmul``), ``unroll_mkl_sgemm_compute`` and
    ``unroll_mkl_dgemm_compute``, to MKL's functions, or to stubs that do nothing when MKL does not run
    here (the loops never call them then: ``packed`` returns None). ``add_symbol``: llvmlite's. Bound to
    MKL whenever it is loaded, also when the race chose OpenBLAS, so that ``race_again`` can switch."""
    state = _find()
    for dtype, p in _PREFIX.items():
        if state["found"] is not None:                 # MKL's, even when the race chose OpenBLAS (race_again)
            address = ctypes.cast(getattr(state["found"], f"cblas_{p}gemm_compute_64"), ctypes.c_void_p).value
        else:
            stub = _COMPUTE[dtype](lambda *args: None)
            state["stubs"].append(stub)                # kept alive: LLVM holds its address
            address = ctypes.cast(stub, ctypes.c_void_p).value
        add_symbol(f"unroll_mkl_{p}gemm_compute", address)


def packed(W: np.ndarray, M: int, transpose: bool, slot: int = 0) -> np.ndarray | None:
    """W (K, P) packed by MKL as the right operand of (M, K) @ (K, P), or with ``transpose`` W (P, K) packed
    as Wᵀ; into this thread's buffer ``slot`` (kept between calls, so reuse a slot only after the loop that
    read it has finished). None when MKL does not run here (the loops then call OpenBLAS's gemm)."""
    state = _find()
    if state["lib"] is None:
        return None
    dtype = W.dtype.type
    fns = state[dtype]
    W = np.ascontiguousarray(W)
    K, P = (W.shape[1], W.shape[0]) if transpose else W.shape
    size = int(fns["size"](B_MATRIX, M, P, K))
    store = getattr(_buffers, "arrays", None)
    if store is None:
        store = _buffers.arrays = {}
    key = (slot, W.dtype.str)
    buf = store.get(key)
    if buf is None or buf.nbytes < size:
        buf = store[key] = np.empty(size // W.itemsize + 16, W.dtype)
    fns["pack"](ROW_MAJOR, B_MATRIX, TRANS if transpose else NO_TRANS, M, P, K, 1.0, W.ctypes.data,
                W.shape[1], buf.ctypes.data)
    return buf


def compute(a: np.ndarray, packed: np.ndarray, out: np.ndarray) -> None:
    """out = a @ B from Python, B ``packed`` (``packed(W, M, ...)`` with M = a's rows), a (M, K) and out (M, P)
    C-contiguous: what the loops' ``blas.packed_matmul`` calls, for the benchmarks."""
    _compute(_find()["found"], a, packed, out)


def _compute(lib, a, packed, out) -> None:
    fn = getattr(lib, f"cblas_{_PREFIX[out.dtype.type]}gemm_compute_64")
    fn.argtypes = list(_COMPUTE[out.dtype.type]._argtypes_)
    M, K = a.shape
    fn(ROW_MAJOR, NO_TRANS, PACKED, M, out.shape[1], K, a.ctypes.data, K, packed.ctypes.data, out.shape[1], 0.0,
       out.ctypes.data, out.shape[1])


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """out = a @ b by MKL, for 2-D a (M, K), b (K, P) and out (M, P) of one dtype (float32 or float64) whose
    rows or columns are contiguous (a transposed view goes as a transpose flag), out's rows contiguous (a
    block of rows or columns of a C-contiguous result). False, doing nothing, when MKL does not run here or
    an operand is laid out otherwise (the caller then uses numpy)."""
    state = _find()
    dtype = out.dtype.type
    if state["lib"] is None or dtype not in _PREFIX or a.dtype != out.dtype or b.dtype != out.dtype:
        return False
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None or out.strides[1] != out.itemsize or out.strides[0] % out.itemsize:
        return False
    M, K = a.shape
    P = b.shape[1]
    if M == 0 or P == 0:
        return True
    if K == 0:
        out[...] = 0
        return True
    state[dtype]["gemm"](ROW_MAJOR, la[0], lb[0], M, P, K, 1.0, a.ctypes.data, la[1], b.ctypes.data, lb[1], 0.0,
                         out.ctypes.data, max(out.strides[0] // out.itemsize, P))
    return True


def _layout(x: np.ndarray):
    """(transpose flag, leading dimension) of a 2-D array for a row-major gemm, or None."""
    size = x.itemsize
    rows, cols = x.shape
    if x.strides[1] == size and (rows == 1 or x.strides[0] % size == 0) and x.strides[0] >= cols * size:
        return NO_TRANS, max(x.strides[0] // size, cols, 1)
    if x.strides[0] == size and (cols == 1 or x.strides[1] % size == 0) and x.strides[1] >= rows * size:
        return TRANS, max(x.strides[1] // size, rows, 1)
    return None
