"""The vanilla RNN layer's whole time loop, forward and backward, in one compiled call per part of the batch.

The RNN twin of ``kernels/lstm_layer.py`` (which has the reasons): all T steps inside numba, numpy's own
BLAS for ``h_{t-1} W_h`` and ``δ^{a_t} W_hᵀ``, the folded embedding's gather and δP scatter inside, the
new states sharing the h buffer when unmasked, the batch rows split across threads (``kernels/split.py``).
Row bodies: ``kernels/rnn.py``'s, compiled into these loops (``inline="always"``; numba's disk cache
checks only the file that defines a kernel, so after editing a row body, clear ``__pycache__`` here);
equations: ``unroll/nn/rnn.py``'s.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unroll.nn.kernels import blas, split
from unroll.nn.kernels.layer_common import (BACKWARD, FORWARD, backward_operand, one_thread, operands,
                                            step_product, step_weights, workspace)
from unroll.nn.kernels.mathfn import CELL_OPTIONS
from unroll.nn.kernels.rnn import backward_row, forward_row

blas.available()        # registers numpy's gemm with LLVM before any cached kernel below is linked


@njit(**CELL_OPTIONS)
def forward_rows(xw, table, ids, gathered, W_h, packed, use_packed, m, masked, code, h_buf, h_new, hw, r0, r1):
    """Steps 1..T of rows r0..r1: h_new (T, N, H) = f(a_t) (may be h_buf[1:]); h_buf (T + 1, N, H); W_h (H, H),
    or packed by MKL when use_packed (``layer_common.step_weights``)."""
    for t in range(h_new.shape[0]):
        step_product(h_buf[t, r0:r1], W_h, packed, use_packed, hw)
        for n in range(r0, r1):
            a = table[ids[t, n]] if gathered else xw[t, n]
            forward_row(a, hw[n - r0], h_buf[t, n], masked and not m[t, n] > 0, code, h_new[t, n], h_buf[t + 1, n])


@njit(**CELL_OPTIONS)
def backward_rows(dhs, h_new, W_h_T, packed, use_packed, m, masked, code, ids, gathered, dh_rec, dh_dir, da, dtable,
                  r0, r1):
    """Steps T..1 of rows r0..r1: dh_rec (N, H) starts with the gradient into h_T; writes da (T, N, H);
    W_h_T (H, H), or W_hᵀ packed when use_packed."""
    for t in range(h_new.shape[0] - 1, -1, -1):
        for n in range(r0, r1):
            backward_row(dhs[t, n], dh_rec[n], dh_dir[n], h_new[t, n], m[t, n], masked, code, da[t, n])
            if gathered:                                        # δP[x_t] += δ^{a_t}
                dst, src = dtable[ids[t, n]], da[t, n]
                for k in range(src.shape[0]):
                    dst[k] += src[k]
        step_product(da[t, r0:r1], W_h_T, packed, use_packed, dh_rec[r0:r1])


def forward(xw, table, ids, W_h, h0, m, code):
    """xw (T, N, H) or None with table (V, H) and ids (T, N); W_h (H, H), h0 (N, H), m (T, N) or None.
    returns h_buf (T + 1, N, H), h_new (T, N, H) (h_buf[1:] when m is None)"""
    gathered = xw is None
    T, N = ids.shape if gathered else xw.shape[:2]
    H, dtype = W_h.shape[0], W_h.dtype
    h_buf = np.empty((T + 1, N, H), dtype)
    h_buf[0] = h0
    h_new = h_buf[1:] if m is None else np.empty((T, N, H), dtype)
    masked = m is not None
    xw, table, ids, m = operands(xw, table, ids, m, dtype, H)
    W_h = np.ascontiguousarray(W_h)
    ranges = split.parts(N, H, "rnn")
    single = one_thread(ranges)

    def part(i, r0, r1):
        packed, use_packed = step_weights(W_h, r1 - r0, False, single, FORWARD)
        forward_rows(xw, table, ids, gathered, W_h, packed, use_packed, m, masked, code, h_buf, h_new,
                     workspace("hw1", i, (r1 - r0, H), dtype), r0, r1)
    split.run(part, ranges)
    return h_buf, h_new


def backward(dhs, h_new, W_h, dh_T, m, code, ids=None, V=0):
    """dhs, h_new (T, N, H), dh_T (N, H), m (T, N) or None; ids, V when gathered.
    returns da (T, N, H), dh0 (N, H), δtable (V, H) or None"""
    T, N, H = dhs.shape
    dtype = dhs.dtype
    gathered = ids is not None
    ranges = split.parts(N, H, "rnn")
    W_h_T, single = backward_operand(W_h, ranges)            # W_h for MKL to pack, else W_hᵀ
    dh_rec, dh_dir = np.array(dh_T, dtype, order="C"), np.zeros((N, H), dtype)
    da = np.empty_like(h_new)
    masked = m is not None
    _, _, ids, m = operands(None if gathered else da, np.zeros((1, H), dtype), ids, m, dtype, H)
    dhs = np.ascontiguousarray(dhs)

    def part(i, r0, r1):
        dtable = np.zeros((V if gathered else 1, H), dtype)
        packed, use_packed = step_weights(W_h_T, r1 - r0, True, single, BACKWARD)
        backward_rows(dhs, h_new, W_h_T, packed, use_packed, m, masked, code, ids, gathered, dh_rec, dh_dir, da,
                      dtable, r0, r1)
        return dtable
    tables = split.run(part, ranges)
    dtable = None
    if gathered:
        dtable = tables[0]
        for extra in tables[1:]:                                # the parts' δP, summed
            dtable += extra
    return da, dh_rec + dh_dir, dtable
