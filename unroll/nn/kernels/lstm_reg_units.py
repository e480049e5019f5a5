"""The regularised LSTM's whole time loop (recurrent dropout and zoneout, ``unroll/nn/lstm_reg.py``) with the
hidden units split across K threads (``UNROLL_SPLIT=units``).

``kernels/lstm_units.py`` has the scheme; what differs is the product's left side, ĥ_{t-1} = h_{t-1} ⊙ r
(the recurrent dropout mask r, (N, H)): every thread writes its units of ĥ_t right after its units of h_t,
before the step's barrier, so ĥ_t is whole when step t + 1 multiplies it (ĥ_0 gets a barrier of its own
before the loop). The row bodies are ``kernels/lstm.py``'s ``forward_row_zoneout`` and
``backward_row_zoneout`` restricted to a unit range; the caches keep ``lstm_layer.py``'s layout.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unroll.nn.kernels import blas, split, sync
from unroll.nn.kernels.lstm_units import blocks, sum_shares
from unroll.nn.kernels.mathfn import CELL_OPTIONS, const, sigmoid, tanh

blas.available()        # registers numpy's gemm with LLVM before any cached kernel below is linked


@njit(**CELL_OPTIONS)
def forward_units(xw, table, ids, gathered, W_k, keep, zh, zc, h_buf, c_buf, h_hat, gates, tanh_c, hw, u0, u1, s, K):
    """Steps 1..T of units u0..u1, all rows: as ``lstm_layer.forward_rows_regularized`` with W_k (H, 4hk),
    hw (N, 4hk); ``s`` the call's sync array shared by its K threads."""
    T, N = gates.shape[0], h_buf.shape[1]
    for n in range(N):
        for j in range(u0, u1):
            h_hat[0, n, j] = h_buf[0, n, j] * keep[n, j]
    if not sync.barrier(s, 0, K):                               # ĥ_0 whole before step 1 multiplies it
        return
    for t in range(T):
        blas.matmul(h_hat[t], W_k, hw, 0.0)                     # (h_{t-1} ⊙ r) W_h, this thread's columns
        for n in range(N):
            a = table[ids[t, n]] if gathered else xw[t, n]
            forward_units_row(a, hw[n], h_buf[t, n], c_buf[t, n], zh[t, n], zc[t, n], gates[t, n], tanh_c[t, n],
                              h_buf[t + 1, n], c_buf[t + 1, n], u0, u1)
            if t + 1 < T:
                for j in range(u0, u1):
                    h_hat[t + 1, n, j] = h_buf[t + 1, n, j] * keep[n, j]
        if not sync.barrier(s, t + 1, K):                       # h_t, ĥ_t whole before step t + 1
            return


@njit(**CELL_OPTIONS)
def forward_units_row(a, b, hp, cp, zh, zc, gt, tc, hn, cn, u0, u1):
    """Units u0..u1 of ``forward_row_zoneout``: b (4hk,) the recurrent side, gate-major."""
    H, hk = cp.shape[0], u1 - u0
    one = const(1.0, cp)
    for q in range(hk):
        j = u0 + q
        i = sigmoid(a[j] + b[q])
        f = sigmoid(a[H + j] + b[hk + q])
        g = tanh(a[2 * H + j] + b[2 * hk + q])
        o = sigmoid(a[3 * H + j] + b[3 * hk + q])
        gt[j], gt[H + j], gt[2 * H + j], gt[3 * H + j] = i, f, g, o
        c_new = f * cp[j] + i * g                               # c̃_t
        t = tanh(c_new)
        tc[j] = t
        cn[j] = zc[j] * cp[j] + (one - zc[j]) * c_new           # c_t = zc c_{t-1} + (1 - zc) c̃_t
        hn[j] = zh[j] * hp[j] + (one - zh[j]) * (o * t)         # h_t = zh h_{t-1} + (1 - zh) o tanh(c̃_t)


@njit(**CELL_OPTIONS)
def backward_units(dhs, gates, tanh_c, c_buf, W_kT, keep, zh, zc, ids, gathered, dh_rec, dh_dir, dc_next, da, dak,
                   partial, dtable, k, u0, u1, s, K):
    """Steps T..1 of units u0..u1: as ``lstm_layer.backward_rows_regularized`` (dh_rec starts at zero, dh_dir
    at the gradient into h_T), with lstm_units.backward_units's shares and barriers."""
    H, T = dh_rec.shape[1], gates.shape[0]
    for step in range(T):
        t = T - 1 - step
        for n in range(dh_rec.shape[0]):
            backward_units_row(dhs[t, n], dh_rec[n], keep[n], dh_dir[n], dc_next[n], gates[t, n], tanh_c[t, n],
                               c_buf[t, n], zh[t, n], zc[t, n], da[t, n], dak[n], u0, u1)
            if gathered:                                        # δP[x_t] += δ^{a_t}, this thread's columns
                dst, src = dtable[ids[t, n]], da[t, n]
                for g in range(4):
                    for j in range(g * H + u0, g * H + u1):
                        dst[j] += src[j]
        mine = partial[step % 2]
        blas.matmul(dak, W_kT, mine[k], 0.0)                    # this thread's share of δ^{a_t} W_hᵀ
        if not sync.barrier(s, step, K):
            return
        sum_shares(mine, dh_rec, u0, u1)


@njit(**CELL_OPTIONS)
def backward_units_row(dhs, rec, keep, dir_, dcn, gt, tc, cp, zh, zc, da, dak, u0, u1):
    """Units u0..u1 of ``backward_row_zoneout``; dak (4hk,) gets those units of δ^{a}, gate-major."""
    H, hk = dcn.shape[0], u1 - u0
    one = const(1.0, dcn)
    for q in range(hk):
        j = u0 + q
        i, f, g, o, t = gt[j], gt[H + j], gt[2 * H + j], gt[3 * H + j], tc[j]
        dh = dhs[j] + rec[j] * keep[j] + dir_[j]
        dht = (one - zh[j]) * dh                                # δh̃
        dc_in = dcn[j]
        dct = (one - zc[j]) * dc_in + dht * o * (one - t * t)   # δc̃
        d_i = dct * g * (i * (one - i))
        d_f = dct * cp[j] * (f * (one - f))
        d_g = dct * i * (one - g * g)
        d_o = dht * t * (o * (one - o))
        da[j], da[H + j], da[2 * H + j], da[3 * H + j] = d_i, d_f, d_g, d_o
        dak[q], dak[hk + q], dak[2 * hk + q], dak[3 * hk + q] = d_i, d_f, d_g, d_o
        dcn[j] = dct * f + zc[j] * dc_in                        # δ^{c_{t-1}}
        dir_[j] = zh[j] * dh                                    # the zoned-out path into h_{t-1}


def forward(xw, table, ids, gathered, W_h, keep, zh, zc, h_buf, c_buf, h_hat, gates, tanh_c, units):
    """Run ``forward_units`` on len(units) threads over lstm_layer.forward_regularized's buffers."""
    N, dtype = h_buf.shape[1], h_buf.dtype
    s, K, W = sync.new(), len(units), blocks(W_h, units)

    def part(k, u0, u1):
        forward_units(xw, table, ids, gathered, W[k][0], keep, zh, zc, h_buf, c_buf, h_hat, gates,
                      tanh_c, np.empty((N, 4 * (u1 - u0)), dtype), u0, u1, s, K)
    split.run(part, units, on_error=lambda: sync.abort(s))


def backward(dhs, gates, tanh_c, c_buf, W_h, keep, zh, zc, ids, gathered, dh_rec, dh_dir, dc_next, da, dtable,
             units):
    """Run ``backward_units`` on len(units) threads over lstm_layer.backward_regularized's buffers."""
    N, H = dh_rec.shape
    s, K, W = sync.new(), len(units), blocks(W_h, units)
    partial = np.empty((2, K, N, H), dh_rec.dtype)

    def part(k, u0, u1):
        backward_units(dhs, gates, tanh_c, c_buf, W[k][1], keep, zh, zc, ids, gathered, dh_rec, dh_dir,
                       dc_next, da, np.empty((N, 4 * (u1 - u0)), dh_rec.dtype), partial, dtable, k, u0, u1, s, K)
    split.run(part, units, on_error=lambda: sync.abort(s))
