"""numpy's own BLAS, callable from compiled code, and its thread count.

The whole-layer loops (``kernels/lstm_layer.py``) make their per-step products ``h_{t-1} W_h`` and
``δ^{a_t} W_hᵀ`` inside one numba call, so that a layer's time loop runs without the GIL and two halves of
the batch can run on two threads. numba's own ``np.dot`` would call SciPy's BLAS: a second OpenBLAS with
its own thread pool in the same process, which the issue (#25) measured collapsing throughput to 0.4x.
So this module finds the ``cblas_sgemm`` / ``cblas_dgemm`` of the OpenBLAS that numpy itself loaded
(threadpoolctl names the library; its symbols carry the wheel's prefix and suffix, e.g.
``scipy_cblas_sgemm64_``) and registers them with LLVM under fixed names, ``unroll_cblas_sgemm`` and
``unroll_cblas_dgemm``, which the compiled code calls as external functions. The names are resolved when a
kernel is linked, so the kernels stay cacheable on disk (``cache=True``).

Supported: an OpenBLAS with 64-bit integers (``openblas_get_config`` says USE64BITINT), as in numpy's
wheels. Anything else (MKL, Accelerate, no threadpoolctl) leaves ``available()`` False, and the
cells keep their per-step loop with ``np.matmul`` (``kernels/lstm.py``).

Threads: ``threads()`` is numpy's BLAS thread count now (``threadpool_limits`` or ``OPENBLAS_NUM_THREADS``
change it); ``single_thread()`` holds it at 1 for a block (the batch split runs one 1-thread BLAS per
worker thread); ``hold()`` holds it at 1 for the whole process until ``release()`` ("own", forced or auto's),
and ``allowed()`` is the count the user allowed, the one ``hold`` found. OpenBLAS lets only one thread set
its pool size: call them from the main thread.
"""

from __future__ import annotations

import ctypes
import itertools
from contextlib import contextmanager

from numba import types
from numba.core.typing import signature
from numba.extending import overload

from unroll.nn.kernels import mkl

ROW_MAJOR, NO_TRANS = 101, 111          # CBLAS enums

_state: dict | None = None
_held: int | None = None               # numpy's BLAS threads before ``hold`` set one (None: not held)


def _gemm_signature(dtype, blasint):
    """cblas_?gemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc), pointers as intp."""
    p = types.intp
    return signature(types.void, types.int32, types.int32, types.int32, blasint, blasint, blasint, dtype,
                     p, blasint, p, blasint, dtype, p, blasint)


# The external functions the compiled loops call; ``_find`` binds their names to numpy's BLAS (64-bit
# integers, as in numpy's wheels on every platform; a 32-bit OpenBLAS leaves ``available()`` False).
sgemm = types.ExternalFunction("unroll_cblas_sgemm", _gemm_signature(types.float32, types.int64))
dgemm = types.ExternalFunction("unroll_cblas_dgemm", _gemm_signature(types.float64, types.int64))


def _compute_signature(dtype):
    """cblas_?gemm_compute_64(order, transA, transB, M, N, K, A, lda, packed B, ldb, beta, C, ldc): MKL's
    ILP64 form, whose transpose arguments are 64-bit integers (kernels/mkl.py)."""
    p, i = types.intp, types.int64
    return signature(types.void, types.int32, i, i, i, i, i, p, i, p, i, dtype, p, i)


# MKL's product with a packed right operand (kernels/mkl.py registers the names: MKL's or stubs)
scompute = types.ExternalFunction("unroll_mkl_sgemm_compute", _compute_signature(types.float32))
dcompute = types.ExternalFunction("unroll_mkl_dgemm_compute", _compute_signature(types.float64))


def available() -> bool:
    """True when numpy's BLAS was found and registered (see the module docstring)."""
    return _find()["ok"]


def info() -> dict:
    """threadpoolctl's description of numpy's BLAS (internal_api, architecture, num_threads, ...), or {}."""
    lib = _find()["lib"]
    return {} if lib is None else lib.info()


def threads() -> int:
    """numpy's BLAS threads now (1 when unknown)."""
    lib = _find()["lib"]
    return 1 if lib is None else max(1, int(lib.get_num_threads() or 1))


@contextmanager
def single_thread():
    """numpy's BLAS held at one thread inside the block (its previous count restored after), for the
    calling thread; the split's worker threads call ``limit_this_thread`` (see there)."""
    lib = _find()["lib"]
    if lib is None or lib.get_num_threads() == 1:
        yield
        return
    before = lib.get_num_threads()
    _set(lib, 1)
    try:
        yield
    finally:
        _set(lib, before)


def allowed() -> int:
    """numpy's BLAS threads the user allowed: ``threads()``, or while ``hold`` holds them at one, the count
    it found."""
    return threads() if _held is None else _held


def hold() -> None:
    """numpy's BLAS at one thread from now on, for the whole process, until ``release`` ("own", forced or
    auto's choice, split.py: unroll's own threads split every product, so OpenBLAS never makes a
    multi-threaded call after which its idle worker busy-waits). The count found is kept for ``allowed``; a count raised meanwhile
    (``threadpool_limits(4)``) is taken as the new one. One lowered to 1 after the hold cannot be told from
    the hold itself: set it before. Called at every use of the strategy: a check while held."""
    global _held
    lib = _find()["lib"]
    now = 1 if lib is None else max(1, int(lib.get_num_threads() or 1))
    if _held is not None and now == 1:
        return
    _held = now
    if now > 1:
        _set(lib, 1)


def release() -> None:
    """numpy's BLAS back at the thread count ``hold`` found."""
    global _held
    lib = _find()["lib"]
    if lib is not None and _held is not None and _held > 1:
        _set(lib, _held)
    _held = None


def _set(lib, count: int) -> None:
    lib.set_num_threads(count)
    getattr(type(lib), "clear_controlling_thread", lambda: None)()   # as threadpool_limits does on exit


def limit_this_thread() -> None:
    """One BLAS thread for the calling (worker) thread. An OpenBLAS on OpenMP keeps its limit per thread,
    so each worker sets its own; one on pthreads has one process-wide pool, which ``single_thread`` set."""
    lib = _find()["lib"]
    if lib is not None and getattr(lib, "threading_layer", None) == "openmp":
        lib.set_num_threads(1)


def _find() -> dict:
    """Locate numpy's OpenBLAS once, register its gemm pair with LLVM; returns the module state."""
    global _state
    if _state is None:
        _state = {"ok": False, "lib": None}
        try:
            _state.update(_locate())
        except Exception:   # noqa: BLE001 - any failure means: keep the per-step loop
            _state["ok"] = False
    return _state


def _locate() -> dict:
    from threadpoolctl import ThreadpoolController
    import llvmlite.binding as llvm
    libs = [c for c in ThreadpoolController().select(user_api="blas").lib_controllers
            if c.internal_api == "openblas" and "numpy" in c.filepath.replace("\\", "/")] or \
        [c for c in ThreadpoolController().select(internal_api="openblas").lib_controllers]
    if not libs:
        return {"ok": False}
    lib = libs[0]
    for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
        config = getattr(lib.dynlib, f"{prefix}openblas_get_config{suffix}", None)
        found = {name: getattr(lib.dynlib, f"{prefix}cblas_{name}{suffix}", None) for name in ("sgemm", "dgemm")}
        if config is None or None in found.values():
            continue
        config.restype = ctypes.c_char_p
        if b"USE64BITINT" not in (config() or b""):
            break
        for name, fn in found.items():
            llvm.add_symbol(f"unroll_cblas_{name}", ctypes.cast(fn, ctypes.c_void_p).value)
        mkl.register(llvm.add_symbol)          # the packed products' names: MKL's, or stubs without it
        return {"ok": True, "lib": lib}
    return {"ok": False, "lib": lib}


def matmul(a, b, out, beta):
    """out = a @ b + beta·out for C-contiguous 2-D a (M, K), b (K, P), out (M, P) of one dtype (numba only)."""
    raise NotImplementedError


def packed_matmul(a, packed, out):
    """out = a @ B for C-contiguous 2-D a (M, K) and out (M, P), B packed by ``mkl.packed(W, M, ...)`` for
    these M, K and P (numba only; MKL's ``cblas_?gemm_compute``)."""
    raise NotImplementedError


@overload(packed_matmul, inline="always")
def _packed_matmul_impl(a, packed, out):
    compute = scompute if a.dtype == types.float32 else dcompute

    def impl(a, packed, out):
        M, K = a.shape
        P = out.shape[1]
        compute(ROW_MAJOR, NO_TRANS, mkl.PACKED, M, P, K, a.ctypes.data, K, packed.ctypes.data, P,
                out.dtype.type(0.0), out.ctypes.data, P)
    return impl


@overload(matmul, inline="always")
def _matmul_impl(a, b, out, beta):
    gemm = sgemm if a.dtype == types.float32 else dgemm

    def impl(a, b, out, beta):
        M, K = a.shape
        P = b.shape[1]
        one = out.dtype.type(1.0)
        gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, M, P, K, one, a.ctypes.data, K, b.ctypes.data, P,
             out.dtype.type(beta), out.ctypes.data, P)
    return impl
