"""The GRU layer's whole time loop with the hidden units split across K threads (``UNROLL_SPLIT=units``).

The GRU twin of ``kernels/lstm_units.py`` (which has the scheme and the reasons): thread k owns the units
[u0, u1) of the three blocks r, z, n; per step ``h_{t-1} W_k`` (N, 3hk) with W_k its columns of W_h
(gate-major, ``lstm_units.blocks``), its units of r, z, u = h W_hn + b_hn, n and h_t (``forward_units_row``,
the equations of ``kernels/gru.py``'s ``forward_row``), a barrier; backward its units of δ^{a} and of the
recurrent side ``[δ^{a^r}, δ^{a^z}, δ^{u}]`` (``backward_units_row``), its share of δ^{h_{t-1}} from the
latter, a barrier, the sum of the shares. The caches keep ``gru_layer.py``'s layout.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unroll.nn.kernels import blas, split, sync
from unroll.nn.kernels.lstm_units import blocks, sum_shares
from unroll.nn.kernels.mathfn import CELL_OPTIONS, const, sigmoid, tanh

blas.available()        # registers numpy's gemm with LLVM before any cached kernel below is linked


@njit(**CELL_OPTIONS)
def forward_units(xw, table, ids, gathered, W_k, b_hn, m, masked, h_buf, gates, u, hs, hw, u0, u1, s, K):
    """Steps 1..T of units u0..u1, all rows: as ``gru_layer.forward_rows`` with W_k (H, 3hk), hw (N, 3hk)."""
    for t in range(gates.shape[0]):
        blas.matmul(h_buf[t], W_k, hw, 0.0)                     # h_{t-1} W_h, this thread's columns
        for n in range(h_buf.shape[1]):
            a = table[ids[t, n]] if gathered else xw[t, n]
            forward_units_row(a, hw[n], b_hn, h_buf[t, n], masked and not m[t, n] > 0, gates[t, n], u[t, n],
                              hs[t, n], h_buf[t + 1, n], u0, u1)
        if not sync.barrier(s, t, K):                           # h_t complete before step t + 1 reads it
            return


@njit(**CELL_OPTIONS)
def forward_units_row(a, b, b_hn, hp, padded, gt, u, hr, hn, u0, u1):
    """Units u0..u1 of one row: a (3H,) the input side, b (3hk,) the recurrent side (gate-major); writes
    those units of gt (3H,), u, hr (0 when padded) and hn (h_{t-1} when padded)."""
    H, hk = hp.shape[0], u1 - u0
    one = const(1.0, hp)
    for q in range(hk):
        j = u0 + q
        r = sigmoid(a[j] + b[q])
        z = sigmoid(a[H + j] + b[hk + q])
        uj = b[2 * hk + q] + b_hn[j]                            # u = h W_hn + b_hn
        nn = tanh(a[2 * H + j] + r * uj)                        # n = tanh(x W_xn + b_n + r u)
        gt[j], gt[H + j], gt[2 * H + j] = r, z, nn
        u[j] = uj
        if padded:
            hr[j] = 0.0
            hn[j] = hp[j]
        else:
            hv = (one - z) * hp[j] + z * nn                     # h_t = (1 - z) h_{t-1} + z n
            hr[j] = hv
            hn[j] = hv


@njit(**CELL_OPTIONS)
def backward_units(dhs, gates, h_buf, u, W_kT, m, masked, ids, gathered, dh_rec, dh_dir, da, dhw, dak, partial,
                   dtable, k, u0, u1, s, K):
    """Steps T..1 of units u0..u1, all rows: as ``gru_layer.backward_rows`` with W_kT (3hk, H), dak (N, 3hk),
    partial (2, K, N, H) shared by the K threads."""
    H, T = dh_rec.shape[1], gates.shape[0]
    for step in range(T):
        t = T - 1 - step
        for n in range(dh_rec.shape[0]):
            backward_units_row(dhs[t, n], dh_rec[n], dh_dir[n], gates[t, n], h_buf[t, n], u[t, n], m[t, n], masked,
                               da[t, n], dhw[t, n], dak[n], u0, u1)
            if gathered:                                        # δP[x_t] += δ^{a_t}, this thread's columns
                dst, src = dtable[ids[t, n]], da[t, n]
                for g in range(3):
                    for j in range(g * H + u0, g * H + u1):
                        dst[j] += src[j]
        mine = partial[step % 2]
        blas.matmul(dak, W_kT, mine[k], 0.0)                    # this thread's share of δ^{h_{t-1}}
        if not sync.barrier(s, step, K):
            return
        sum_shares(mine, dh_rec, u0, u1)


@njit(**CELL_OPTIONS)
def backward_units_row(dhs, rec, dir_, gt, hp, u, mn_value, masked, da, dhw, dak, u0, u1):
    """Units u0..u1 of one row of ``kernels/gru.py``'s backward_row: writes those units of da, dhw (3H,) and
    dak (3hk,, gate-major, the recurrent side); dir_ leaves with the direct path into h_{t-1}."""
    H, hk = rec.shape[0], u1 - u0
    one = const(1.0, rec)
    mn = mn_value if masked else one
    for q in range(hk):
        j = u0 + q
        r, z, nn = gt[j], gt[H + j], gt[2 * H + j]
        dh_in = rec[j] + dir_[j]
        dh = mn * (dhs[j] + dh_in) if masked else dhs[j] + dh_in
        da_z = dh * (nn - hp[j]) * (z * (one - z))
        da_n = dh * z * (one - nn * nn)
        dir_[j] = dh * (one - z) + (one - mn) * dh_in if masked else dh * (one - z)
        da_r = da_n * u[j] * (r * (one - r))
        du = da_n * r
        da[j], da[H + j], da[2 * H + j] = da_r, da_z, da_n
        dhw[j], dhw[H + j], dhw[2 * H + j] = da_r, da_z, du
        dak[q], dak[hk + q], dak[2 * hk + q] = da_r, da_z, du


def forward(xw, table, ids, gathered, W_h, b_hn, m, masked, h_buf, gates, u, hs, units):
    """Run ``forward_units`` on len(units) threads over gru_layer.forward's buffers."""
    N, dtype = h_buf.shape[1], h_buf.dtype
    s, K, W = sync.new(), len(units), blocks(W_h, units)

    def part(k, u0, u1):
        forward_units(xw, table, ids, gathered, W[k][0], b_hn, m, masked, h_buf, gates, u, hs,
                      np.empty((N, 3 * (u1 - u0)), dtype), u0, u1, s, K)
    split.run(part, units, on_error=lambda: sync.abort(s))


def backward(dhs, gates, h_buf, u, W_h, m, masked, ids, gathered, dh_rec, dh_dir, da, dhw, dtable, units):
    """Run ``backward_units`` on len(units) threads over gru_layer.backward's buffers (dtable shared)."""
    N, H = dh_rec.shape
    s, K, W = sync.new(), len(units), blocks(W_h, units)
    partial = np.empty((2, K, N, H), dh_rec.dtype)

    def part(k, u0, u1):
        backward_units(dhs, gates, h_buf, u, W[k][1], m, masked, ids, gathered, dh_rec, dh_dir, da, dhw,
                       np.empty((N, 3 * (u1 - u0)), dh_rec.dtype), partial, dtable, k, u0, u1, s, K)
    split.run(part, units, on_error=lambda: sync.abort(s))
