"""The GRU layer's whole time loop, forward and backward, in one compiled call per part of the batch.

The GRU twin of ``kernels/lstm_layer.py`` (which has the reasons): all T steps inside numba, numpy's own
BLAS for ``h_{t-1} W_h`` and ``[δ^{a^r}, δ^{a^z}, δ^{u}] W_hᵀ`` (``kernels/blas.py``), the folded
embedding's gather and δP scatter inside, the outputs sharing the h buffer when unmasked, and the batch
rows split across threads (``kernels/split.py``). The row bodies are ``kernels/gru.py``'s, so the per-step
path and this one compute the same numbers; the equations are ``unroll/nn/gru.py``'s. The row bodies are
compiled into these loops (``inline="always"``): numba's disk cache checks only the file that defines a
kernel, so after editing a row body, clear ``__pycache__`` here (a fresh install does not need to).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unroll.nn.kernels import blas, split
from unroll.nn.kernels.gru import backward_row, forward_row
from unroll.nn.kernels.layer_common import (BACKWARD, FORWARD, backward_operand, one_thread, operands,
                                            prefetch_rows, row_ahead, step_product, step_weights, workspace)
from unroll.nn.kernels.mathfn import CELL_OPTIONS, ROW_OPTIONS, borrowed

blas.available()        # registers numpy's gemm with LLVM before any cached kernel below is linked


@njit(**CELL_OPTIONS)
def forward_rows(xw, table, ids, gathered, W_h, packed, use_packed, b_hn, m, masked, h_buf, gates, u, hs, hw, r0,
                 r1):
    """Steps 1..T of rows r0..r1: xw (T, N, 3H) or (gathered) table (V, 3H) and ids (T, N); W_h (H, 3H), or
    packed by MKL when use_packed (``layer_common.step_weights``);
    b_hn (H,); h_buf (T + 1, N, H) with row 0 the initial state; writes gates (T, N, 3H), u, hs (T, N, H)."""
    xw, table, h_buf, gates, u = borrowed(xw), borrowed(table), borrowed(h_buf), borrowed(gates), borrowed(u)
    hs, hw = borrowed(hs), borrowed(hw)                        # views without reference counts (lever 14)
    for t in range(gates.shape[0]):
        step_product(h_buf[t, r0:r1], W_h, packed, use_packed, hw)   # h_{t-1} W_h, all three blocks, these rows
        for n in range(r0, r1):
            a = table[ids[t, n]] if gathered else xw[t, n]
            forward_row(a, hw[n - r0], b_hn, h_buf[t, n], masked and not m[t, n] > 0, gates[t, n], u[t, n],
                        hs[t, n], h_buf[t + 1, n])


@njit(**CELL_OPTIONS)
def backward_rows(dhs, gates, h_buf, u, W_h_T, packed, use_packed, m, masked, ids, gathered, dh_rec, dh_dir, da, dhw,
                  dtable, r0, r1):
    """Steps T..1 of rows r0..r1 (W_h_T (3H, H), or W_hᵀ packed when use_packed): dh_rec (N, H) starts with the gradient into h_T, dh_dir at zero; writes
    da, dhw (T, N, 3H) and, when gathered, adds δ^{a_t} rows into dtable[ids[t, n]]."""
    dhs, gates, h_buf, u, da, dhw = borrowed(dhs), borrowed(gates), borrowed(h_buf), borrowed(u), borrowed(da), borrowed(dhw)
    dh_rec, dh_dir, dtable = borrowed(dh_rec), borrowed(dh_dir), borrowed(dtable)
    for t in range(gates.shape[0] - 1, -1, -1):
        for n in range(r0, r1):
            _prefetch_ahead(dhs, gates, h_buf, u, da, dhw, t, n, r0, r1)
            backward_row(dhs[t, n], dh_rec[n], dh_dir[n], gates[t, n], h_buf[t, n], u[t, n], m[t, n], masked,
                         da[t, n], dhw[t, n])
            if gathered:                                        # δP[x_t] += δ^{a_t}
                dst, src = dtable[ids[t, n]], da[t, n]
                for k in range(src.shape[0]):
                    dst[k] += src[k]
        step_product(dhw[t, r0:r1], W_h_T, packed, use_packed, dh_rec[r0:r1])   # [δ^{a^r}, δ^{a^z}, δ^{u}] W_hᵀ


@njit(**ROW_OPTIONS)
def _prefetch_ahead(dhs, gates, h_buf, u, da, dhw, t, n, r0, r1):
    """``lstm_layer._prefetch_ahead`` for the GRU: the rows of gates, u, h_{t-1} and δh that backward_rows
    reads PREFETCH_ROWS rows after row n of step t, and for writing the rows of da and dhw (h_buf's row
    [t, n] is its flat row t·N + n, as in the (T, N, ·) caches)."""
    ahead = row_ahead(t, n, r0, r1, gates.shape[1])
    if ahead >= 0:
        G, H = gates.shape[2], u.shape[2]
        prefetch_rows((gates,), ahead, G, False)
        prefetch_rows((da, dhw), ahead, G, True)
        prefetch_rows((u, h_buf, dhs), ahead, H, False)


def forward(xw, table, ids, W_h, b_hn, h0, m):
    """xw (T, N, 3H), or None with table (V, 3H) and ids (T, N); W_h (H, 3H), b_hn (H,), h0 (N, H), m (T, N)
    or None. returns h_buf (T + 1, N, H), gates (T, N, 3H), u (T, N, H), hs (T, N, H) (h_buf[1:] unmasked)"""
    gathered = xw is None
    T, N = ids.shape if gathered else xw.shape[:2]
    H, dtype = W_h.shape[0], W_h.dtype
    h_buf = np.empty((T + 1, N, H), dtype)
    h_buf[0] = h0
    gates, u = np.empty((T, N, 3 * H), dtype), np.empty((T, N, H), dtype)
    hs = h_buf[1:] if m is None else np.empty((T, N, H), dtype)
    masked = m is not None
    xw, table, ids, m = operands(xw, table, ids, m, dtype, 3 * H)
    W_h, b_hn = np.ascontiguousarray(W_h), np.ascontiguousarray(b_hn)
    ranges = split.parts(N, H, "gru")
    single = one_thread(ranges)

    def part(i, r0, r1):
        packed, use_packed = step_weights(W_h, r1 - r0, False, single, FORWARD)
        forward_rows(xw, table, ids, gathered, W_h, packed, use_packed, b_hn, m, masked, h_buf, gates, u, hs,
                     workspace("hw3", i, (r1 - r0, 3 * H), dtype), r0, r1)
    split.run(part, ranges)
    return h_buf, gates, u, hs


def backward(dhs, gates, h_prev, u, W_h, dh_T, m, ids=None, V=0):
    """dhs, h_prev, u (T, N, H), gates (T, N, 3H), dh_T (N, H), m (T, N) or None; ids, V when gathered.
    returns da (T, N, 3H) (input side), dhw (T, N, 3H) (recurrent side), dh0 (N, H), δtable or None"""
    T, N, H = dhs.shape
    dtype = dhs.dtype
    gathered = ids is not None
    ranges = split.parts(N, H, "gru")
    W_h_T, single = backward_operand(W_h, ranges)            # W_h for MKL to pack, else W_hᵀ
    dh_rec, dh_dir = np.array(dh_T, dtype, order="C"), np.zeros((N, H), dtype)
    da, dhw = np.empty_like(gates), np.empty_like(gates)
    masked = m is not None
    _, _, ids, m = operands(None if gathered else da, np.zeros((1, 3 * H), dtype), ids, m, dtype, 3 * H)
    dhs = np.ascontiguousarray(dhs)

    def part(i, r0, r1):
        dtable = np.zeros((V if gathered else 1, 3 * H), dtype)
        packed, use_packed = step_weights(W_h_T, r1 - r0, True, single, BACKWARD)
        backward_rows(dhs, gates, h_prev, u, W_h_T, packed, use_packed, m, masked, ids, gathered, dh_rec, dh_dir, da,
                      dhw, dtable, r0, r1)
        return dtable
    tables = split.run(part, ranges)
    dtable = None
    if gathered:
        dtable = tables[0]
        for extra in tables[1:]:                                # the parts' δP, summed
            dtable += extra
    return da, dhw, dh_rec + dh_dir, dtable
