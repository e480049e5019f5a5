"""Fused time loop of the GRU (equations in ``unroll/nn/gru.py``; gate blocks r, z, n, reset after W_hn).

Per step, BLAS computes ``h_{t-1} W_h`` (forward) and ``[δ^{a^r}, δ^{a^z}, δ^{u}] W_hᵀ`` (backward) for all
three blocks; one compiled call does the rest of the step row by row, in loops that touch few arrays so
LLVM vectorizes them; padded rows (mask 0) take a plain loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unroll.nn.kernels.mathfn import CELL_OPTIONS, ROW_OPTIONS, const, sigmoid, tanh


@njit(**CELL_OPTIONS)
def forward_step(xw_t, hw, b_hn, h, m_t, masked, gates_t, u_t, hs_t, h_next):
    """xw_t, hw, gates_t (N, 3H); b_hn (H,); h, u_t, hs_t, h_next (N, H); m_t (N,)."""
    for n in range(h.shape[0]):
        forward_row(xw_t[n], hw[n], b_hn, h[n], masked and not m_t[n] > 0, gates_t[n], u_t[n], hs_t[n], h_next[n])


@njit(**ROW_OPTIONS)
def forward_row(a, b, b_hn, hp, padded, gt, u, hr, hn):
    """One row of a step: a, b (3H,) the input and recurrent sides; hp (H,) h_{t-1}; writes gt (3H,), u,
    hr = h_t (0 when padded) and hn = h_t (h_{t-1} when padded). Loops run j over 0..H-1 on per-gate
    views, as in ``kernels/lstm.py``'s forward_row (an index like 2H + j is not vectorized); h_t is stored
    once when hr and hn are the same row, as there."""
    H = hp.shape[0]
    one = const(1.0, hp)
    for k in range(2 * H):                                      # r, z
        gt[k] = sigmoid(a[k] + b[k])
    r, z, nn = gt[:H], gt[H:2 * H], gt[2 * H:]
    an, bn = a[2 * H:], b[2 * H:]
    for j in range(H):                                          # u = h W_hn + b_hn, n = tanh(x W_xn + b_n + r u)
        uj = bn[j] + b_hn[j]
        u[j] = uj
        nn[j] = tanh(an[j] + r[j] * uj)
    if padded:
        hr[:] = 0.0
        hn[:] = hp
    elif hr.ctypes.data == hn.ctypes.data:                      # the whole-layer loop unmasked: hs is h_buf[1:]
        for j in range(H):                                      # h_t, stored once (lever 14, as the LSTM's)
            zj = z[j]
            hn[j] = (one - zj) * hp[j] + zj * nn[j]
    else:
        for j in range(H):                                      # h_t = (1 - z) h_{t-1} + z n
            zj = z[j]
            hv = (one - zj) * hp[j] + zj * nn[j]
            hr[j] = hv
            hn[j] = hv


@njit(**CELL_OPTIONS)
def backward_step(dhs_t, dh_rec, dh_dir, gates_t, h_prev_t, u_t, m_t, masked, da_t, dhw_t):
    """da_t, dhw_t (N, 3H) from dh = dh_rec + dh_dir into h_t; dh_dir becomes the direct path into h_{t-1}
    (δh ⊙ (1 - z_t), plus the padded-step carry)."""
    for n in range(dh_rec.shape[0]):
        backward_row(dhs_t[n], dh_rec[n], dh_dir[n], gates_t[n], h_prev_t[n], u_t[n], m_t[n], masked, da_t[n],
                     dhw_t[n])


@njit(**ROW_OPTIONS)
def backward_row(dhs, rec, dir_, gt, hp, u, mn_value, masked, da, dhw):
    """One row of backward_step: all (H,) but gt, da, dhw (3H,); mn_value the row's mask (read when masked).
    Loops over 0..H-1 on per-gate views, as in forward_row."""
    H = rec.shape[0]
    one = const(1.0, rec)
    mn = mn_value if masked else one
    r, z, nn = gt[:H], gt[H:2 * H], gt[2 * H:]
    da_r, da_z, da_n = da[:H], da[H:2 * H], da[2 * H:]
    dw_r, dw_z, dw_n = dhw[:H], dhw[H:2 * H], dhw[2 * H:]
    for j in range(H):
        zj, nj = z[j], nn[j]
        dh_in = rec[j] + dir_[j]
        dh = mn * (dhs[j] + dh_in) if masked else dhs[j] + dh_in
        da_z[j] = dh * (nj - hp[j]) * (zj * (one - zj))
        da_n[j] = dh * zj * (one - nj * nj)
        dir_[j] = dh * (one - zj) + (one - mn) * dh_in if masked else dh * (one - zj)
    for j in range(H):
        rj, dn = r[j], da_n[j]
        dr = dn * u[j] * (rj * (one - rj))
        da_r[j] = dr
        dw_r[j] = dr
        dw_z[j] = da_z[j]
        dw_n[j] = dn * rj


def forward(xw, W_h, b_hn, h0, m):
    """xw (T, N, 3H) input side of r, z, n; W_h (H, 3H); b_hn (H,); h0 (N, H); m (T, N) or None.

    returns h_prev (T + 1, N, H) (the states entering each step, then the final state), gates (T, N, 3H),
    u (T, N, H), hs (T, N, H)
    """
    T, N, G = xw.shape
    H, dtype = G // 3, xw.dtype
    h_prev = np.empty((T + 1, N, H), dtype)
    h_prev[0] = h0
    gates, u, hs = np.empty_like(xw), np.empty((T, N, H), dtype), np.empty((T, N, H), dtype)
    hw = np.empty((N, G), dtype)
    masked, m = (m is not None), (m if m is not None else np.ones((T, N), dtype))
    for t in range(T):
        np.matmul(h_prev[t], W_h, out=hw)
        forward_step(xw[t], hw, b_hn, h_prev[t], m[t], masked, gates[t], u[t], hs[t], h_prev[t + 1])
    return h_prev, gates, u, hs


def backward(dhs, gates, h_prev, u, W_h, dstate, m):
    """dhs (T, N, H), gates (T, N, 3H), h_prev, u (T, N, H), dstate (N, H), m (T, N) or None.

    returns da (T, N, 3H) (input side), dhw (T, N, 3H) (recurrent side), dstate0 (N, H)
    """
    T, N, H = dhs.shape
    W_h_T = np.ascontiguousarray(W_h.T)
    dh_rec, dh_dir = dstate.copy(), np.zeros((N, H), dhs.dtype)
    da, dhw = np.empty_like(gates), np.empty_like(gates)
    masked, m = (m is not None), (m if m is not None else np.ones((T, N), dhs.dtype))
    for t in range(T - 1, -1, -1):
        backward_step(dhs[t], dh_rec, dh_dir, gates[t], h_prev[t], u[t], m[t], masked, da[t], dhw[t])
        np.matmul(dhw[t], W_h_T, out=dh_rec)
    return da, dhw, dh_rec + dh_dir
