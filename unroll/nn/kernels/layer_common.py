"""What the whole-layer loops of every cell share (``kernels/lstm_layer.py``, ``gru_layer.py``,
``rnn_layer.py``): the per-step products' right operand (``step_weights``: ``W_h`` packed by MKL for a part
that runs at one thread, else the plain array for OpenBLAS), the tiled transpose, the backward loops'
prefetch of the rows ahead, per-thread workspaces, and typed stand-ins for unused arguments.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

from unroll.nn.kernels import blas, mkl
from unroll.nn.kernels.mathfn import CELL_OPTIONS, ROW_OPTIONS, prefetch, prefetch_write

_workspaces = threading.local()
PREFETCH_ROWS = 2          # how far ahead the backward loops prefetch their caches' rows (lever 14)
FORWARD, BACKWARD = 0, 1   # step_weights' buffer slots: a layer's forward and its backward


def one_thread(ranges: list[tuple[int, int]]) -> bool:
    """True when each part of ``ranges`` runs its per-step products at one BLAS thread: a split batch
    (``split.run`` gives every part one thread) or one part while numpy's BLAS has one thread."""
    return len(ranges) > 1 or blas.threads() == 1


def step_weights(W, rows: int, transpose: bool, single: bool, slot: int):
    """The right operand of a part's per-step products, ``rows`` rows a step: (packed, True) with W (or Wᵀ
    when ``transpose``) packed once by MKL for this call (``mkl.packed``) when the part runs at one thread
    (``single``) and MKL runs here, the loops then calling ``blas.packed_matmul``; else (a stand-in, False),
    the loops calling OpenBLAS's gemm with W (or a contiguous Wᵀ) as before (lever 15)."""
    buf = mkl.packed(W, rows, transpose, slot) if single else None
    return (buf, True) if buf is not None else (np.zeros(1, W.dtype), False)


def backward_operand(W_h, ranges: list[tuple[int, int]]):
    """(W, single) for a backward loop over ``ranges``: ``single`` when its parts pack ``W_hᵀ`` by MKL
    (``step_weights(W, rows, True, single, BACKWARD)``), W then ``W_h`` itself, from which MKL packs the
    transpose; else the tiled contiguous copy ``W_hᵀ`` for OpenBLAS's gemm."""
    single = one_thread(ranges) and mkl.available()
    return (np.ascontiguousarray(W_h) if single else transposed(W_h)), single


@njit(**ROW_OPTIONS)
def step_product(a, W, packed, use_packed, out):
    """out = a @ W for C-contiguous a (M, K), out (M, P): MKL's product with ``packed`` (``step_weights``)
    when ``use_packed``, else OpenBLAS's gemm with W (K, P)."""
    if use_packed:
        blas.packed_matmul(a, packed, out)
    else:
        blas.matmul(a, W, out, 0.0)


@njit(**ROW_OPTIONS)
def row_ahead(t, n, r0, r1, N):
    """The flat row (t·N + n of a C-contiguous (T, N, ·) array) that a backward loop over rows r0..r1, steps
    T..1, reaches PREFETCH_ROWS rows after row n of step t: later rows of step t, then step t - 1 from r0;
    negative past the first step. The loop streams its caches from L3 or memory, and the hardware's
    prefetchers restart at every 4 KiB page (2 rows of the LSTM's gates at H = 128; lever 14)."""
    k = n + PREFETCH_ROWS
    return t * N + k if k < r1 else (t - 1) * N + r0 + k - r1


@njit(**ROW_OPTIONS)
def prefetch_rows(arrays, row, width, write):
    """Prefetch flat row ``row`` of width ``width`` of each C-contiguous array in the tuple ``arrays``, one
    cache line at a time, for writing when ``write`` (x86's PREFETCHW) else for reading. A hint: an index
    past an array is harmless."""
    for a in arrays:
        for j in range(0, width, 64 // a.itemsize):
            if write:
                prefetch_write(a, row * width + j)
            else:
                prefetch(a, row * width + j)


@njit(**CELL_OPTIONS)
def transpose(W, out):
    """out = Wᵀ for C-contiguous W (R, C) and out (C, R), in 16 x 16 tiles (each tile's rows of W and of out
    stay in L1). numpy's strided copy, ``np.ascontiguousarray(W.T)``, took 2.2 ms for a 512 x 2048 W_h
    where this takes 0.85 (58 against 36 us at 128 x 512; lever 14, docs/performance.md)."""
    R, C = W.shape
    for i0 in range(0, R, 16):
        i1 = min(i0 + 16, R)
        for j0 in range(0, C, 16):
            for j in range(j0, min(j0 + 16, C)):
                for i in range(i0, i1):
                    out[j, i] = W[i, j]


def transposed(W):
    """A C-contiguous copy of Wᵀ (W 2-D), made by ``transpose``."""
    W = np.ascontiguousarray(W)
    out = np.empty((W.shape[1], W.shape[0]), W.dtype)
    transpose(W, out)
    return out


def operands(xw, table, ids, m, dtype, G):
    """The loops' arguments with typed stand-ins for the unused ones (numba needs every argument typed)."""
    if xw is None:
        xw = np.zeros((1, 1, G), dtype)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        table = np.ascontiguousarray(table, dtype=dtype)
    else:
        xw = np.ascontiguousarray(xw)
        ids, table = np.zeros((1, 1), np.int64), np.zeros((1, G), dtype)
    m = np.ones((1, 1), dtype) if m is None else np.ascontiguousarray(m, dtype=dtype)
    return xw, table, ids, m


def workspace(name, index, shape, dtype):
    """A per-calling-thread, per-part scratch array, kept between calls (its contents are not)."""
    store = getattr(_workspaces, "arrays", None)
    if store is None:
        store = _workspaces.arrays = {}
    key = (name, index, shape, np.dtype(dtype).str)
    if key not in store:
        store[key] = np.empty(shape, dtype)
    return store[key]
