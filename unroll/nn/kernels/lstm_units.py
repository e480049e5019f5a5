"""The LSTM layer's whole time loop with the hidden units split across K threads (``UNROLL_SPLIT=units``).

Thread k owns the units [u0, u1) (hk = u1 - u0 of them) of every row of the batch. Once per call it copies
its columns of W_h for the four gates into a contiguous block W_k (H, 4hk), gate-major (column
g·hk + j - u0 is W_h's column g·H + j), and W_kᵀ (4hk, H) for backward. Then, for t = 1..T:

- forward: ``b = h_{t-1} W_k`` (N, 4hk), a 1-thread BLAS product over the whole h_{t-1} (N, H); the
  activations, c_t, tanh(c_t) and h_t of its units only (``forward_units_row``, the equations of
  ``kernels/lstm.py``'s ``forward_row``); then a barrier (``kernels/sync.py``): every thread has written
  its slice of h_t before anyone reads h_t;
- backward: δ^{a_t} of its units' four gates (``backward_units_row``, the equations of ``backward_row``),
  kept in full layout in ``da`` and packed in ``dak`` (N, 4hk); its partial ``δ^{a_t}_k W_kᵀ`` (N, H, full
  width) into ``partial[s % 2, k]``; a barrier; then δ^{h_{t-1}} of its units is the sum of the K partials.
  The partials are double-buffered by step parity, so one barrier per step suffices: a thread writes
  buffer s % 2 again only at step s + 2, after the barrier of step s + 1, which every thread reaches only
  after its sum of step s.

The caches (gates, tanh_c, h and c buffers, δ^{a}) have ``lstm_layer.py``'s layout, so the products after
the loop (``∂L/∂W_h``, ``∂L/∂W_x``) and every other path read them unchanged. With the folded embedding each
thread scatters its own columns of δ^{a_t} into δP (the threads write disjoint columns of one table).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unroll.nn.kernels import blas, split, sync
from unroll.nn.kernels.mathfn import CELL_OPTIONS, const, sigmoid, tanh

blas.available()        # registers numpy's gemm with LLVM before any cached kernel below is linked


@njit(**CELL_OPTIONS)
def forward_units(xw, table, ids, gathered, W_k, m, masked, h_buf, c_buf, gates, tanh_c, hs, hw, u0, u1, s, K):
    """Steps 1..T of units u0..u1, all rows: as ``lstm_layer.forward_rows`` with W_k (H, 4hk) this thread's
    block and hw (N, 4hk) its workspace; ``s`` the call's sync array shared by its K threads."""
    for t in range(gates.shape[0]):
        blas.matmul(h_buf[t], W_k, hw, 0.0)                     # h_{t-1} W_h, this thread's columns
        for n in range(h_buf.shape[1]):
            a = table[ids[t, n]] if gathered else xw[t, n]
            forward_units_row(a, hw[n], h_buf[t, n], c_buf[t, n], masked and not m[t, n] > 0, gates[t, n],
                              tanh_c[t, n], hs[t, n], h_buf[t + 1, n], c_buf[t + 1, n], u0, u1)
        if not sync.barrier(s, t, K):                           # h_t complete before step t + 1 reads it
            return


@njit(**CELL_OPTIONS)
def forward_units_row(a, b, hp, cp, padded, gt, tc, hr, hn, cn, u0, u1):
    """Units u0..u1 of one row: a (4H,) the input side, b (4hk,) the recurrent side (gate-major); hp, cp
    (H,) h_{t-1}, c_{t-1}; writes those units of gt (4H,), tc, hr (0 when padded), hn (h_{t-1} when padded),
    cn (c_{t-1} when padded)."""
    H, hk = cp.shape[0], u1 - u0
    for q in range(hk):
        j = u0 + q
        i = sigmoid(a[j] + b[q])
        f = sigmoid(a[H + j] + b[hk + q])
        g = tanh(a[2 * H + j] + b[2 * hk + q])
        o = sigmoid(a[3 * H + j] + b[3 * hk + q])
        gt[j], gt[H + j], gt[2 * H + j], gt[3 * H + j] = i, f, g, o
        c_new = f * cp[j] + i * g                               # c_t = f c_{t-1} + i g
        t = tanh(c_new)
        tc[j] = t
        if padded:                                              # a padded step carries h and c through
            hr[j] = 0.0
            hn[j] = hp[j]
            cn[j] = cp[j]
        else:
            h = o * t                                           # h_t = o tanh(c_t)
            hr[j] = h
            hn[j] = h
            cn[j] = c_new


@njit(**CELL_OPTIONS)
def backward_units(dhs, gates, tanh_c, c_buf, W_kT, m, masked, ids, gathered, dh_rec, dh_dir, dc_next, da, dak,
                   partial, dtable, k, u0, u1, s, K):
    """Steps T..1 of units u0..u1, all rows: as ``lstm_layer.backward_rows`` with W_kT (4hk, H), dak (N, 4hk)
    this thread's workspace, partial (2, K, N, H) shared by the K threads; dh_rec, dh_dir, dc_next (N, H)
    are read and written at this thread's units only."""
    H, T = dh_rec.shape[1], gates.shape[0]
    for step in range(T):
        t = T - 1 - step
        for n in range(dh_rec.shape[0]):
            backward_units_row(dhs[t, n], dh_rec[n], dh_dir[n], dc_next[n], gates[t, n], tanh_c[t, n], c_buf[t, n],
                               m[t, n], masked, da[t, n], dak[n], u0, u1)
            if gathered:                                        # δP[x_t] += δ^{a_t}, this thread's columns
                dst, src = dtable[ids[t, n]], da[t, n]
                for g in range(4):
                    for j in range(g * H + u0, g * H + u1):
                        dst[j] += src[j]
        mine = partial[step % 2]
        blas.matmul(dak, W_kT, mine[k], 0.0)                    # δ^{a_t}_k W_kᵀ: this thread's share of δ^{h_{t-1}}
        if not sync.barrier(s, step, K):
            return
        sum_shares(mine, dh_rec, u0, u1)                        # δ^{h_{t-1}} of these units


@njit(**CELL_OPTIONS)
def sum_shares(shares, out, u0, u1):
    """out[:, u0:u1] = Σ_k shares[k, :, u0:u1] (shares (K, N, H), out (N, H)): the threads' shares of δ^{h_{t-1}}
    summed for one thread's units."""
    for n in range(out.shape[0]):
        for j in range(u0, u1):
            total = shares[0, n, j]
            for q in range(1, shares.shape[0]):
                total += shares[q, n, j]
            out[n, j] = total


@njit(**CELL_OPTIONS)
def backward_units_row(dhs, rec, dir_, dcn, gt, tc, cp, mn, masked, da, dak, u0, u1):
    """Units u0..u1 of one row of the backward step (``kernels/lstm.py``'s backward_row and its masked twin):
    writes those units of da (4H,) and of dak (4hk,, gate-major); dcn leaves with δ^{c_{t-1}}, dir_ with the
    padded-step carry (kept zero when unmasked)."""
    H, hk = dcn.shape[0], u1 - u0
    one = const(1.0, dcn)
    for q in range(hk):
        j = u0 + q
        i, f, g, o, t = gt[j], gt[H + j], gt[2 * H + j], gt[3 * H + j], tc[j]
        if masked:
            dh_in = rec[j] + dir_[j]
            dh = mn * (dhs[j] + dh_in)
            dc = dh * o * (one - t * t) + mn * dcn[j]
            dcn[j] = dc * f + (one - mn) * dcn[j]
            dir_[j] = (one - mn) * dh_in
        else:
            dh = dhs[j] + rec[j]
            dc = dh * o * (one - t * t) + dcn[j]
            dcn[j] = dc * f                                     # δ^{c_{t-1}} = δc ⊙ f_t
        d_i = dc * g * (i * (one - i))
        d_f = dc * cp[j] * (f * (one - f))
        d_g = dc * i * (one - g * g)
        d_o = dh * t * (o * (one - o))
        da[j], da[H + j], da[2 * H + j], da[3 * H + j] = d_i, d_f, d_g, d_o
        dak[q], dak[hk + q], dak[2 * hk + q], dak[3 * hk + q] = d_i, d_f, d_g, d_o


def blocks(W_h, units):
    """This call's per-thread weight blocks of a (H, G·H) W_h (G gate blocks): [(W_k (H, G·hk), W_kᵀ (G·hk, H))
    for (u0, u1) in units], W_k's column g·hk + j - u0 being W_h's column g·H + j."""
    H = W_h.shape[0]
    G = W_h.shape[1] // H
    by_gate = W_h.reshape(H, G, H)
    out = []
    for u0, u1 in units:
        W_k = np.ascontiguousarray(by_gate[:, :, u0:u1].reshape(H, G * (u1 - u0)))
        out.append((W_k, np.ascontiguousarray(W_k.T)))
    return out


def forward(xw, table, ids, gathered, W_h, m, masked, h_buf, c_buf, gates, tanh_c, hs, units):
    """Run ``forward_units`` on len(units) threads (split.run) over lstm_layer.forward's buffers."""
    N, dtype = h_buf.shape[1], h_buf.dtype
    s, K, W = sync.new(), len(units), blocks(W_h, units)

    def part(k, u0, u1):
        hw = np.empty((N, 4 * (u1 - u0)), dtype)
        forward_units(xw, table, ids, gathered, W[k][0], m, masked, h_buf, c_buf, gates, tanh_c, hs,
                      hw, u0, u1, s, K)
    split.run(part, units, on_error=lambda: sync.abort(s))


def backward(dhs, gates, tanh_c, c_buf, W_h, m, masked, ids, gathered, dh_rec, dh_dir, dc_next, da, dtable, units):
    """Run ``backward_units`` on len(units) threads over lstm_layer.backward's buffers (dtable shared)."""
    N, H = dh_rec.shape
    s, K, W = sync.new(), len(units), blocks(W_h, units)
    partial = np.empty((2, K, N, H), dh_rec.dtype)

    def part(k, u0, u1):
        dak = np.empty((N, 4 * (u1 - u0)), dh_rec.dtype)
        backward_units(dhs, gates, tanh_c, c_buf, W[k][1], m, masked, ids, gathered, dh_rec, dh_dir,
                       dc_next, da, dak, partial, dtable, k, u0, u1, s, K)
    split.run(part, units, on_error=lambda: sync.abort(s))
