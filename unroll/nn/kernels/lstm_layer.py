"""The LSTM layer's whole time loop, forward and backward, in one compiled call per part of the batch.

Where ``kernels/lstm.py`` goes back to Python at every step (an ``np.matmul`` and a kernel call), these
loops run all T steps inside numba, calling numpy's own BLAS (``kernels/blas.py``) for ``h_{t-1} W_h`` and
``δ^{a_t} W_hᵀ``, without the GIL, so that the batch's rows can be split across threads
(``kernels/split.py``). Inside the loop as well:

- the folded embedding's gather (``xw_t = P[x_t]``, read straight from the V x 4H table, models/
  language_model.py) and, backward, the scatter of its gradient (``δP[x_t] += δ^{a_t}``, per part, summed);
- h buffers shared between steps and outputs: without a mask, the outputs ``h_1 .. h_T`` are rows 1..T
  of the same (T + 1, N, H) buffer whose rows 0..T-1 are the cache's ``h_{t-1}``;
- a contiguous ``W_hᵀ`` for the backward product (``transposed``, a tiled copy), and per-part (rows, 4H)
  workspaces kept between calls;
- the array arguments rebound as ``borrowed`` ones (``mathfn.py``), so the views taken per row carry no
  reference counts; backward, the caches' rows two rows ahead prefetched, and δ^{a}'s for writing
  (``_prefetch_ahead``).

The equations are ``unroll/nn/lstm.py``'s; the row bodies are ``kernels/lstm.py``'s ``forward_row`` and
``backward_row``, so the per-step path and this one compute the same numbers. The row bodies are
compiled into these loops (``inline="always"``): numba's disk cache checks only the file that defines a
kernel, so after editing a row body, clear ``__pycache__`` here (a fresh install does not need to).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unroll.nn.kernels import blas, split
from unroll.nn.kernels.layer_common import (BACKWARD, FORWARD, backward_operand, one_thread, operands,
                                            prefetch_rows, row_ahead, step_product, step_weights, workspace)
from unroll.nn.kernels.lstm import backward_row, backward_row_zoneout, forward_row, forward_row_zoneout
from unroll.nn.kernels.mathfn import CELL_OPTIONS, ROW_OPTIONS, borrowed

blas.available()        # registers numpy's gemm with LLVM before any cached kernel below is linked



@njit(**CELL_OPTIONS)
def forward_rows(xw, table, ids, gathered, W_h, packed, use_packed, m, masked, h_buf, c_buf, gates, tanh_c, hs,
                 hw, r0, r1):
    """Steps 1..T of rows r0..r1: xw (T, N, 4H), or (gathered) table (V, 4H) and ids int64 (T, N);
    W_h (H, 4H), or when use_packed W_h packed by MKL for r1 - r0 rows (``step_weights``); m (T, N) read when masked; h_buf, c_buf (T + 1, N, H) with row 0 the initial state;
    writes gates (T, N, 4H), tanh_c, hs (T, N, H) (hs may be h_buf[1:]) and h_buf, c_buf rows 1..T;
    hw (r1 - r0, 4H) workspace."""
    xw, table, h_buf, c_buf, gates = borrowed(xw), borrowed(table), borrowed(h_buf), borrowed(c_buf), borrowed(gates)
    tanh_c, hs, hw = borrowed(tanh_c), borrowed(hs), borrowed(hw)      # views without reference counts
    for t in range(gates.shape[0]):
        step_product(h_buf[t, r0:r1], W_h, packed, use_packed, hw)   # h_{t-1} W_h, all four gates, these rows
        for n in range(r0, r1):
            padded = masked and not m[t, n] > 0
            if padded:
                h_buf[t + 1, n] = h_buf[t, n]                   # a padded step carries h through
            a = table[ids[t, n]] if gathered else xw[t, n]      # x_t W_x + b: the folded embedding's row
            forward_row(a, hw[n - r0], c_buf[t, n], padded, gates[t, n], tanh_c[t, n], hs[t, n],
                        h_buf[t + 1, n], c_buf[t + 1, n])


@njit(**CELL_OPTIONS)
def backward_rows(dhs, gates, tanh_c, c_buf, W_h_T, packed, use_packed, m, masked, ids, gathered, dh_rec, dh_dir,
                  dc_next, da, dtable, r0, r1):
    """Steps T..1 of rows r0..r1 (W_h_T (4H, H), or W_hᵀ packed when use_packed): dh_rec, dc_next (N, H) hold the gradients into the final state and leave
    with those into the initial one (dh_dir the padded-step carry, zero unmasked); writes da (T, N, 4H) and,
    when gathered, adds every row of δ^{a_t} into dtable[ids[t, n]] (V, 4H)."""
    dhs, gates, tanh_c, c_buf, da = borrowed(dhs), borrowed(gates), borrowed(tanh_c), borrowed(c_buf), borrowed(da)
    dh_rec, dh_dir, dc_next, dtable = borrowed(dh_rec), borrowed(dh_dir), borrowed(dc_next), borrowed(dtable)
    for t in range(gates.shape[0] - 1, -1, -1):
        for n in range(r0, r1):
            _prefetch_ahead(dhs, gates, tanh_c, c_buf, da, t, n, r0, r1)
            backward_row(dhs[t, n], dh_rec[n], dh_dir[n], dc_next[n], gates[t, n], tanh_c[t, n], c_buf[t, n],
                         m[t, n], masked, da[t, n])
            if gathered:                                        # δP[x_t] += δ^{a_t}
                dst, src = dtable[ids[t, n]], da[t, n]
                for k in range(src.shape[0]):
                    dst[k] += src[k]
        step_product(da[t, r0:r1], W_h_T, packed, use_packed, dh_rec[r0:r1])   # δ^{h_{t-1}} = δ^{a_t} W_hᵀ


@njit(**ROW_OPTIONS)
def _prefetch_ahead(dhs, gates, tanh_c, c_buf, da, t, n, r0, r1):
    """Prefetch the rows of the caches that backward_rows reads PREFETCH_ROWS rows after row n of step t,
    and for writing the row of da it writes there (``row_ahead``, ``prefetch_rows``)."""
    ahead = row_ahead(t, n, r0, r1, gates.shape[1])
    if ahead >= 0:
        G, H = gates.shape[2], tanh_c.shape[2]
        prefetch_rows((gates,), ahead, G, False)
        prefetch_rows((da,), ahead, G, True)
        prefetch_rows((tanh_c, c_buf, dhs), ahead, H, False)


@njit(**CELL_OPTIONS)
def forward_rows_regularized(xw, table, ids, gathered, W_h, packed, use_packed, keep, zh, zc, h_buf, c_buf, h_hat,
                             gates, tanh_c, hw, r0, r1):
    """forward_rows with recurrent dropout and zoneout (``unroll/nn/lstm_reg.py``): keep (N, H) the
    recurrent mask, zh, zc (T, N, H); h_hat (T, N, H) gets h_{t-1} ⊙ keep, the product's left side."""
    xw, table, keep, zh, zc = borrowed(xw), borrowed(table), borrowed(keep), borrowed(zh), borrowed(zc)
    h_buf, c_buf, h_hat = borrowed(h_buf), borrowed(c_buf), borrowed(h_hat)
    gates, tanh_c, hw = borrowed(gates), borrowed(tanh_c), borrowed(hw)
    H = keep.shape[1]
    for t in range(gates.shape[0]):
        for n in range(r0, r1):
            for j in range(H):
                h_hat[t, n, j] = h_buf[t, n, j] * keep[n, j]
        step_product(h_hat[t, r0:r1], W_h, packed, use_packed, hw)   # (h_{t-1} ⊙ keep) W_h
        for n in range(r0, r1):
            a = table[ids[t, n]] if gathered else xw[t, n]
            forward_row_zoneout(a, hw[n - r0], h_buf[t, n], c_buf[t, n], zh[t, n], zc[t, n], gates[t, n],
                                tanh_c[t, n], h_buf[t + 1, n], c_buf[t + 1, n])


@njit(**CELL_OPTIONS)
def backward_rows_regularized(dhs, gates, tanh_c, c_buf, W_h_T, packed, use_packed, keep, zh, zc, ids, gathered,
                              dh_rec, dh_dir, dc_next, da, dtable, r0, r1):
    """backward_rows for forward_rows_regularized: dh_rec starts at zero and dh_dir at the gradient into
    h_T; they leave with δ^{a_1} W_hᵀ and zh_1 ⊙ δh_1 (the caller forms δh_0 = dh_rec ⊙ keep + dh_dir)."""
    dhs, gates, tanh_c, c_buf, da = borrowed(dhs), borrowed(gates), borrowed(tanh_c), borrowed(c_buf), borrowed(da)
    keep, zh, zc, dtable = borrowed(keep), borrowed(zh), borrowed(zc), borrowed(dtable)
    dh_rec, dh_dir, dc_next = borrowed(dh_rec), borrowed(dh_dir), borrowed(dc_next)
    for t in range(gates.shape[0] - 1, -1, -1):
        for n in range(r0, r1):
            backward_row_zoneout(dhs[t, n], dh_rec[n], keep[n], dh_dir[n], dc_next[n], gates[t, n], tanh_c[t, n],
                                 c_buf[t, n], zh[t, n], zc[t, n], da[t, n])
            if gathered:
                dst, src = dtable[ids[t, n]], da[t, n]
                for k in range(src.shape[0]):
                    dst[k] += src[k]
        step_product(da[t, r0:r1], W_h_T, packed, use_packed, dh_rec[r0:r1])


def available() -> bool:
    """True when numpy's BLAS could be registered (else the per-step loop of kernels/lstm.py runs)."""
    return blas.available()


def forward(xw, table, ids, W_h, h0, c0, m):
    """xw (T, N, 4H), or None with table (V, 4H) and ids (T, N) (the folded embedding); W_h (H, 4H);
    h0, c0 (N, H); m (T, N) or None.

    returns h_buf, c_buf (T + 1, N, H) (the states entering each step, then the final state),
    gates (T, N, 4H), tanh_c (T, N, H), hs (T, N, H) (a view of h_buf[1:] when m is None)
    """
    gathered = xw is None
    T, N = ids.shape if gathered else xw.shape[:2]
    H, dtype = W_h.shape[0], W_h.dtype
    h_buf, c_buf = np.empty((T + 1, N, H), dtype), np.empty((T + 1, N, H), dtype)
    h_buf[0], c_buf[0] = h0, c0
    gates, tanh_c = np.empty((T, N, 4 * H), dtype), np.empty((T, N, H), dtype)
    hs = h_buf[1:] if m is None else np.empty((T, N, H), dtype)
    masked = m is not None
    xw, table, ids, m = operands(xw, table, ids, m, dtype, 4 * H)
    W_h = np.ascontiguousarray(W_h)
    ranges = split.parts(N, H, "lstm")
    single = one_thread(ranges)

    def part(i, r0, r1):
        packed, use_packed = step_weights(W_h, r1 - r0, False, single, FORWARD)
        forward_rows(xw, table, ids, gathered, W_h, packed, use_packed, m, masked, h_buf, c_buf, gates, tanh_c, hs,
                     workspace("hw", i, (r1 - r0, 4 * H), dtype), r0, r1)
    split.run(part, ranges)
    return h_buf, c_buf, gates, tanh_c, hs


def backward(dhs, gates, tanh_c, c_prev, W_h, dh_T, dc_T, m, ids=None, V=0):
    """dhs, tanh_c, c_prev (T, N, H); gates (T, N, 4H); dh_T, dc_T (N, H); m (T, N) or None; ids (T, N) and
    V when forward gathered from a (V, 4H) table.

    returns da (T, N, 4H), dh0, dc0 (N, H), and δtable (V, 4H) (None without ids)
    """
    T, N, H = dhs.shape
    dtype = dhs.dtype
    gathered = ids is not None
    ranges = split.parts(N, H, "lstm")
    W_h_T, single = backward_operand(W_h, ranges)            # W_h for MKL to pack, else W_hᵀ
    dh_rec, dh_dir = np.array(dh_T, dtype, order="C"), np.zeros((N, H), dtype)
    dc_next = np.array(dc_T, dtype, order="C")
    da = np.empty_like(gates)
    masked = m is not None
    _, _, ids, m = operands(None if gathered else da, np.zeros((1, 4 * H), dtype), ids, m, dtype, 4 * H)
    dhs = np.ascontiguousarray(dhs)

    def part(i, r0, r1):
        dtable = np.zeros((V if gathered else 1, 4 * H), dtype)
        packed, use_packed = step_weights(W_h_T, r1 - r0, True, single, BACKWARD)
        backward_rows(dhs, gates, tanh_c, c_prev, W_h_T, packed, use_packed, m, masked, ids, gathered, dh_rec,
                      dh_dir, dc_next, da, dtable, r0, r1)
        return dtable
    tables = split.run(part, ranges)
    dtable = None
    if gathered:
        dtable = tables[0]
        for extra in tables[1:]:                                # the parts' δP, summed (a sum in a new order)
            dtable += extra
    return da, dh_rec + dh_dir, dc_next, dtable


def forward_regularized(xw, table, ids, W_h, h0, c0, keep, zh, zc):
    """forward with recurrent dropout and zoneout: keep (N, H), zh, zc (T, N, H) (no padding mask).

    returns h_buf, c_buf (T + 1, N, H), h_hat (T, N, H) (h_{t-1} ⊙ keep), gates (T, N, 4H), tanh_c (T, N, H)
    (tanh of the candidate c̃_t); the outputs are h_buf[1:]
    """
    gathered = xw is None
    T, N = ids.shape if gathered else xw.shape[:2]
    H, dtype = W_h.shape[0], W_h.dtype
    h_buf, c_buf = np.empty((T + 1, N, H), dtype), np.empty((T + 1, N, H), dtype)
    h_buf[0], c_buf[0] = h0, c0
    h_hat, gates, tanh_c = np.empty((T, N, H), dtype), np.empty((T, N, 4 * H), dtype), np.empty((T, N, H), dtype)
    xw, table, ids, _ = operands(xw, table, ids, None, dtype, 4 * H)
    W_h, keep, zh, zc = (np.ascontiguousarray(a, dtype=dtype) for a in (W_h, keep, zh, zc))
    ranges = split.parts(N, H, "lstm")
    single = one_thread(ranges)

    def part(i, r0, r1):
        packed, use_packed = step_weights(W_h, r1 - r0, False, single, FORWARD)
        forward_rows_regularized(xw, table, ids, gathered, W_h, packed, use_packed, keep, zh, zc, h_buf, c_buf,
                                 h_hat, gates, tanh_c, workspace("hw", i, (r1 - r0, 4 * H), dtype), r0, r1)
    split.run(part, ranges)
    return h_buf, c_buf, h_hat, gates, tanh_c


def backward_regularized(dhs, gates, tanh_c, c_prev, W_h, dh_T, dc_T, keep, zh, zc, ids=None, V=0):
    """Backward of forward_regularized; returns da (T, N, 4H), dh0, dc0 (N, H), δtable (V, 4H) or None."""
    T, N, H = dhs.shape
    dtype = dhs.dtype
    gathered = ids is not None
    ranges = split.parts(N, H, "lstm")
    W_h_T, single = backward_operand(W_h, ranges)            # W_h for MKL to pack, else W_hᵀ
    dh_rec, dh_dir, dc_next = np.zeros((N, H), dtype), np.array(dh_T, dtype), np.array(dc_T, dtype)
    da = np.empty_like(gates)
    _, _, ids, _ = operands(None if gathered else da, np.zeros((1, 4 * H), dtype), ids, None, dtype, 4 * H)
    dhs, keep, zh, zc = (np.ascontiguousarray(a, dtype=dtype) for a in (dhs, keep, zh, zc))

    def part(i, r0, r1):
        dtable = np.zeros((V if gathered else 1, 4 * H), dtype)
        packed, use_packed = step_weights(W_h_T, r1 - r0, True, single, BACKWARD)
        backward_rows_regularized(dhs, gates, tanh_c, c_prev, W_h_T, packed, use_packed, keep, zh, zc, ids, gathered,
                                  dh_rec, dh_dir, dc_next, da, dtable, r0, r1)
        return dtable
    tables = split.run(part, ranges)
    dtable = None
    if gathered:
        dtable = tables[0]
        for extra in tables[1:]:
            dtable += extra
    return da, dh_rec * keep + dh_dir, dc_next, dtable
