"""Fused time loop of the vanilla RNN (equations in ``unroll/nn/rnn.py``).

Per step, BLAS computes ``h_{t-1} W_h`` (forward) and ``δ^{a_t} W_hᵀ`` (backward); one compiled call does
the rest row by row: ``h_t = f(xw_t + h_{t-1} W_h)`` with the mask's carry, and
``δ^{a_t} = (∂L_t/∂h_t + δ^{h_t}) ⊙ f'``. Activation codes: 0 tanh, 1 relu, 2 sigmoid, 3 identity.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unroll.nn.kernels.mathfn import CELL_OPTIONS, ROW_OPTIONS, const, sigmoid, tanh


@njit(**CELL_OPTIONS)
def forward_step(xw_t, hw, h, m_t, masked, code, h_new_t, h_next):
    """h_new_t = f(xw_t + hw); h_next = h_new_t on real rows, h on padded ones. All (N, H); m_t (N,)."""
    for n in range(h.shape[0]):
        forward_row(xw_t[n], hw[n], h[n], masked and not m_t[n] > 0, code, h_new_t[n], h_next[n])


@njit(**ROW_OPTIONS)
def forward_row(a, b, hp, padded, code, y, hn):
    """One row: y = f(a + b); hn = y, or hp on a padded row (all (H,))."""
    H = hp.shape[0]
    zero = const(0.0, hp)
    if code == 0:
        for j in range(H):
            y[j] = tanh(a[j] + b[j])
    elif code == 1:
        for j in range(H):
            y[j] = max(a[j] + b[j], zero)
    elif code == 2:
        for j in range(H):
            y[j] = sigmoid(a[j] + b[j])
    else:
        for j in range(H):
            y[j] = a[j] + b[j]
    src = hp if padded else y
    for j in range(H):                                          # explicit: y and hn may be the same row
        hn[j] = src[j]


@njit(**CELL_OPTIONS)
def backward_step(dhs_t, dh_rec, dh_dir, h_new_t, m_t, masked, code, da_t):
    """δ^{a_t} from dh = dh_rec + dh_dir (into h_t); dh_dir becomes the padded-step carry into h_{t-1}."""
    for n in range(da_t.shape[0]):
        backward_row(dhs_t[n], dh_rec[n], dh_dir[n], h_new_t[n], m_t[n], masked, code, da_t[n])


@njit(**ROW_OPTIONS)
def backward_row(dhs, rec, dir_, y, mn_value, masked, code, da):
    """One row of backward_step (all (H,)); mn_value the row's mask (read when masked)."""
    H = da.shape[0]
    one, zero = const(1.0, da), const(0.0, da)
    mn = mn_value if masked else one
    for j in range(H):
        dh_in = rec[j] + dir_[j] if masked else rec[j]
        if code == 0:
            d = one - y[j] * y[j]
        elif code == 1:
            d = one if y[j] > zero else zero
        elif code == 2:
            d = y[j] * (one - y[j])
        else:
            d = one
        da[j] = mn * (dhs[j] + dh_in) * d
        if masked:
            dir_[j] = (one - mn) * dh_in


def forward(xw, W_h, h0, m, code):
    """xw (T, N, H) input side of a_t, W_h (H, H), h0 (N, H), m (T, N) or None.

    returns h_prev (T + 1, N, H) (the states entering each step, then the final state), h_new (T, N, H)
    """
    T, N, H = xw.shape
    h_prev = np.empty((T + 1, N, H), xw.dtype)
    h_prev[0] = h0
    h_new = np.empty_like(xw)
    hw = np.empty((N, H), xw.dtype)
    masked, m = (m is not None), (m if m is not None else np.ones((T, N), xw.dtype))
    for t in range(T):
        np.matmul(h_prev[t], W_h, out=hw)
        forward_step(xw[t], hw, h_prev[t], m[t], masked, code, h_new[t], h_prev[t + 1])
    return h_prev, h_new


def backward(dhs, h_new, W_h, dstate, m, code):
    """dhs (T, N, H), h_new (T, N, H), dstate (N, H), m (T, N) or None -> da (T, N, H), dstate0 (N, H)."""
    T, N, H = h_new.shape
    W_h_T = np.ascontiguousarray(W_h.T)
    dh_rec, dh_dir = dstate.copy(), np.zeros((N, H), h_new.dtype)
    da = np.empty_like(h_new)
    masked, m = (m is not None), (m if m is not None else np.ones((T, N), h_new.dtype))
    for t in range(T - 1, -1, -1):
        backward_step(dhs[t], dh_rec, dh_dir, h_new[t], m[t], masked, code, da[t])
        np.matmul(da[t], W_h_T, out=dh_rec)
    return da, dh_rec + dh_dir
