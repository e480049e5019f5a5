"""Fused time loop of the LSTM (equations in ``unroll/nn/lstm.py``; gate blocks i, f, g, o).

Per step, BLAS computes ``h_{t-1} W_h`` (forward) and ``δ^{a_t} W_hᵀ`` (backward) for all four gates; one
compiled call does the rest of the step row by row (a row of 4H gates stays in L1): the activations, c_t,
tanh(c_t) and h_t forward; δc, the four δ^{a} and δ^{c_{t-1}} backward. Each inner loop touches few arrays
so LLVM vectorizes it; padded rows (mask 0) take a plain loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unroll.nn.kernels.mathfn import CELL_OPTIONS, ROW_OPTIONS, const, sigmoid, tanh


@njit(**CELL_OPTIONS)
def forward_step(xw_t, hw, c, m_t, masked, gates_t, tanh_c_t, hs_t, h_next, c_next):
    """xw_t, hw, gates_t (N, 4H); c, tanh_c_t, hs_t, h_next, c_next (N, H); m_t (N,).

    On a padded row (m_t[n] = 0) hs_t is 0, c_next = c, and h_next is left as it is (the caller copied h).
    """
    for n in range(c.shape[0]):
        forward_row(xw_t[n], hw[n], c[n], masked and not m_t[n] > 0, gates_t[n], tanh_c_t[n], hs_t[n],
                    h_next[n], c_next[n])


@njit(**ROW_OPTIONS)
def forward_row(a, b, cp, padded, gt, tc, hr, hn, cn):
    """One row of a step: a, b (4H,) the input and recurrent sides of the gates; cp (H,) c_{t-1};
    writes gt (4H,), tc = tanh(c_t), hr = h_t (0 when padded), hn = h_t (untouched when padded), cn = c_t.

    Every loop runs j over 0..H-1 on per-gate views (``gt[2H:3H]``, not ``gt[2H + j]``): an index numba
    cannot prove non-negative gets a wraparound select per element, which kept LLVM from vectorizing the
    g and o loops forward and the δi/δf/δg loop backward (Lever 11, docs/performance.md). When hr and hn
    are the same row (the whole-layer loop without a mask, whose outputs are its h buffer) h_t is stored
    once: the forward loop ran 5-7% faster (lever 14; likely because LLVM's run-time alias check finds two
    stores to the same addresses and takes its scalar loop)."""
    H = cp.shape[0]
    _activate(a, b, gt, H)
    i, f, g, o = gt[:H], gt[H:2 * H], gt[2 * H:3 * H], gt[3 * H:]
    for j in range(H):                                          # c_t = f c_{t-1} + i g, tanh(c_t)
        c_new = f[j] * cp[j] + i[j] * g[j]
        tc[j] = tanh(c_new)
        cn[j] = c_new
    if padded:
        hr[:] = 0.0
        cn[:] = cp
    elif hr.ctypes.data == hn.ctypes.data:                      # the whole-layer loop unmasked: hs is h_buf[1:]
        for j in range(H):                                      # h_t = o tanh(c_t), stored once
            hn[j] = o[j] * tc[j]
    else:
        for j in range(H):                                      # h_t = o tanh(c_t)
            h = o[j] * tc[j]
            hr[j] = h
            hn[j] = h


@njit(**ROW_OPTIONS)
def _activate(a, b, gt, H):
    """gt = [σ, σ, tanh, σ](a + b), gate block by gate block, each a loop over 0..H-1 (see forward_row)."""
    for k in range(2 * H):                                      # i, f
        gt[k] = sigmoid(a[k] + b[k])
    ga, gb, g = a[2 * H:3 * H], b[2 * H:3 * H], gt[2 * H:3 * H]
    for j in range(H):                                          # g
        g[j] = tanh(ga[j] + gb[j])
    oa, ob, o = a[3 * H:], b[3 * H:], gt[3 * H:]
    for j in range(H):                                          # o
        o[j] = sigmoid(oa[j] + ob[j])


@njit(**CELL_OPTIONS)
def backward_step(dhs_t, dh_rec, dh_dir, dc_next, gates_t, tanh_c_t, c_prev_t, m_t, masked, da_t):
    """δ^{a_t} (N, 4H) from dh = dh_rec + dh_dir into h_t and dc_next into c_t; dc_next becomes δ^{c_{t-1}}
    and dh_dir the padded-step carry into h_{t-1} (kept zero when unmasked)."""
    for n in range(dc_next.shape[0]):
        backward_row(dhs_t[n], dh_rec[n], dh_dir[n], dc_next[n], gates_t[n], tanh_c_t[n], c_prev_t[n],
                     m_t[n], masked, da_t[n])


@njit(**ROW_OPTIONS)
def backward_row(dhs, rec, dir_, dcn, gt, tc, cp, mn, masked, da):
    """One row of backward_step: all (H,) but gt, da (4H,); mn the row's mask value (read when masked).
    Loops over 0..H-1 on per-gate views, as in forward_row."""
    H = dcn.shape[0]
    i, f, g, o = gt[:H], gt[H:2 * H], gt[2 * H:3 * H], gt[3 * H:]
    di, df, dg, do = da[:H], da[H:2 * H], da[2 * H:3 * H], da[3 * H:]
    if masked:
        _backward_row_masked(dhs, rec, dir_, dcn, i, f, g, o, tc, cp, mn, di, df, dg, do, H)
        return
    one = const(1.0, dcn)
    for j in range(H):
        dh = dhs[j] + rec[j]
        oj, t = o[j], tc[j]
        do[j] = dh * t * (oj * (one - oj))
        dcn[j] = dh * oj * (one - t * t) + dcn[j]               # δc, kept here until the next loop
    for j in range(H):
        dc, ij, fj, gj = dcn[j], i[j], f[j], g[j]
        di[j] = dc * gj * (ij * (one - ij))
        df[j] = dc * cp[j] * (fj * (one - fj))
        dg[j] = dc * ij * (one - gj * gj)
        dcn[j] = dc * fj                                        # δ^{c_{t-1}} = δc ⊙ f_t


@njit(**ROW_OPTIONS)
def _backward_row_masked(dhs, rec, dir_, dcn, i, f, g, o, tc, cp, mn, di, df, dg, do, H):
    one = const(1.0, dcn)
    for j in range(H):
        ij, fj, gj, oj, t = i[j], f[j], g[j], o[j], tc[j]
        dh_in = rec[j] + dir_[j]
        dh = mn * (dhs[j] + dh_in)
        dc = dh * oj * (one - t * t) + mn * dcn[j]
        di[j] = dc * gj * (ij * (one - ij))
        df[j] = dc * cp[j] * (fj * (one - fj))
        dg[j] = dc * ij * (one - gj * gj)
        do[j] = dh * t * (oj * (one - oj))
        dcn[j] = dc * fj + (one - mn) * dcn[j]
        dir_[j] = (one - mn) * dh_in


def forward(xw, W_h, h0, c0, m):
    """xw (T, N, 4H) input side of the gates, W_h (H, 4H), h0, c0 (N, H), m (T, N) or None.

    returns h_prev, c_prev (T + 1, N, H) (the states entering each step, then the final state),
    gates (T, N, 4H), tanh_c (T, N, H), hs (T, N, H)
    """
    T, N, G = xw.shape
    H, dtype = G // 4, xw.dtype
    h_prev, c_prev = np.empty((T + 1, N, H), dtype), np.empty((T + 1, N, H), dtype)
    h_prev[0], c_prev[0] = h0, c0
    gates, tanh_c, hs = np.empty_like(xw), np.empty((T, N, H), dtype), np.empty((T, N, H), dtype)
    hw = np.empty((N, G), dtype)
    masked, m = (m is not None), (m if m is not None else np.ones((T, N), dtype))
    for t in range(T):
        np.matmul(h_prev[t], W_h, out=hw)
        if masked:
            h_prev[t + 1] = h_prev[t]
        forward_step(xw[t], hw, c_prev[t], m[t], masked, gates[t], tanh_c[t], hs[t], h_prev[t + 1], c_prev[t + 1])
    return h_prev, c_prev, gates, tanh_c, hs


def backward(dhs, gates, tanh_c, c_prev, W_h, dh_T, dc_T, m):
    """dhs (T, N, H), gates (T, N, 4H), tanh_c, c_prev (T, N, H), dh_T, dc_T (N, H), m (T, N) or None.

    returns da (T, N, 4H), dh0, dc0 (N, H)
    """
    T, N, H = dhs.shape
    W_h_T = np.ascontiguousarray(W_h.T)
    dh_rec, dh_dir, dc_next = dh_T.copy(), np.zeros((N, H), dhs.dtype), dc_T.copy()
    da = np.empty_like(gates)
    masked, m = (m is not None), (m if m is not None else np.ones((T, N), dhs.dtype))
    for t in range(T - 1, -1, -1):
        backward_step(dhs[t], dh_rec, dh_dir, dc_next, gates[t], tanh_c[t], c_prev[t], m[t], masked, da[t])
        np.matmul(da[t], W_h_T, out=dh_rec)
    return da, dh_rec + dh_dir, dc_next


@njit(**ROW_OPTIONS)
def forward_row_zoneout(a, b, hp, cp, zh, zc, gt, tc, hn, cn):
    """One row of a step with zoneout (``unroll/nn/lstm_reg.py``): as forward_row, then
    c_t = zc c_{t-1} + (1 - zc) c̃_t and h_t = zh h_{t-1} + (1 - zh) o tanh(c̃_t); tc holds tanh(c̃_t)."""
    H = cp.shape[0]
    one = const(1.0, cp)
    _activate(a, b, gt, H)
    i, f, g, o = gt[:H], gt[H:2 * H], gt[2 * H:3 * H], gt[3 * H:]
    for j in range(H):                                          # c̃_t = f c_{t-1} + i g, tanh(c̃_t), c_t
        c_new = f[j] * cp[j] + i[j] * g[j]
        tc[j] = tanh(c_new)
        cn[j] = zc[j] * cp[j] + (one - zc[j]) * c_new
    for j in range(H):                                          # h_t = zh h_{t-1} + (1 - zh) o tanh(c̃_t)
        hn[j] = zh[j] * hp[j] + (one - zh[j]) * (o[j] * tc[j])


@njit(**ROW_OPTIONS)
def backward_row_zoneout(dhs, rec, keep, dir_, dcn, gt, tc, cp, zh, zc, da):
    """One row of the zoneout backward: δh = dhs + rec ⊙ keep + dir_ (rec = δ^{a_{t+1}} W_hᵀ, keep the
    recurrent dropout mask), dcn = δ^{c_t}; writes da and leaves δ^{c_{t-1}} in dcn, zh ⊙ δh in dir_."""
    H = dcn.shape[0]
    one = const(1.0, dcn)
    i, f, g, o = gt[:H], gt[H:2 * H], gt[2 * H:3 * H], gt[3 * H:]
    di, df, dg, do = da[:H], da[H:2 * H], da[2 * H:3 * H], da[3 * H:]
    for j in range(H):
        ij, fj, gj, oj, t = i[j], f[j], g[j], o[j], tc[j]
        dh = dhs[j] + rec[j] * keep[j] + dir_[j]
        dht = (one - zh[j]) * dh                                # δh̃ into o tanh(c̃_t)
        dc_in = dcn[j]
        dct = (one - zc[j]) * dc_in + dht * oj * (one - t * t)  # δc̃
        di[j] = dct * gj * (ij * (one - ij))
        df[j] = dct * cp[j] * (fj * (one - fj))
        dg[j] = dct * ij * (one - gj * gj)
        do[j] = dht * t * (oj * (one - oj))
        dcn[j] = dct * fj + zc[j] * dc_in                       # δ^{c_{t-1}}
        dir_[j] = zh[j] * dh                                    # the zoned-out path into h_{t-1}
