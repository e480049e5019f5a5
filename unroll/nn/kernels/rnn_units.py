"""The vanilla RNN layer's whole time loop with the hidden units split across K threads (``UNROLL_SPLIT=units``).

The RNN twin of ``kernels/lstm_units.py`` (which has the scheme and the reasons): thread k owns the units
[u0, u1); per step it makes ``h_{t-1} W_h[:, u0:u1]`` (N, hk) over the whole h_{t-1}, computes its units of
h_t with ``kernels/rnn.py``'s own row bodies (on slices: the RNN's units are independent columns), and waits
at the barrier; backward, its units of δ^{a_t}, its full-width share ``δ^{a_t}[:, u0:u1] W_h[:, u0:u1]ᵀ`` of
δ^{h_{t-1}}, a barrier, and the sum of the K shares for its units. The caches keep ``rnn_layer.py``'s layout.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unroll.nn.kernels import blas, split, sync
from unroll.nn.kernels.lstm_units import blocks, sum_shares
from unroll.nn.kernels.mathfn import CELL_OPTIONS
from unroll.nn.kernels.rnn import backward_row, forward_row

blas.available()        # registers numpy's gemm with LLVM before any cached kernel below is linked


@njit(**CELL_OPTIONS)
def forward_units(xw, table, ids, gathered, W_k, m, masked, code, h_buf, h_new, hw, u0, u1, s, K):
    """Steps 1..T of units u0..u1, all rows: as ``rnn_layer.forward_rows`` with W_k (H, hk), hw (N, hk)."""
    for t in range(h_new.shape[0]):
        blas.matmul(h_buf[t], W_k, hw, 0.0)                     # h_{t-1} W_h, this thread's columns
        for n in range(h_buf.shape[1]):
            a = table[ids[t, n]] if gathered else xw[t, n]
            forward_row(a[u0:u1], hw[n], h_buf[t, n, u0:u1], masked and not m[t, n] > 0, code,
                        h_new[t, n, u0:u1], h_buf[t + 1, n, u0:u1])
        if not sync.barrier(s, t, K):                           # h_t complete before step t + 1 reads it
            return


@njit(**CELL_OPTIONS)
def backward_units(dhs, h_new, W_kT, m, masked, code, ids, gathered, dh_rec, dh_dir, da, dak, partial, dtable, k,
                   u0, u1, s, K):
    """Steps T..1 of units u0..u1, all rows: as ``rnn_layer.backward_rows`` with W_kT (hk, H), dak (N, hk),
    partial (2, K, N, H) shared by the K threads."""
    T = h_new.shape[0]
    for step in range(T):
        t = T - 1 - step
        for n in range(dh_rec.shape[0]):
            d = da[t, n, u0:u1]
            backward_row(dhs[t, n, u0:u1], dh_rec[n, u0:u1], dh_dir[n, u0:u1], h_new[t, n, u0:u1], m[t, n], masked,
                         code, d)
            dak[n] = d
            if gathered:                                        # δP[x_t] += δ^{a_t}, this thread's columns
                dst = dtable[ids[t, n]]
                for q in range(u1 - u0):
                    dst[u0 + q] += d[q]
        mine = partial[step % 2]
        blas.matmul(dak, W_kT, mine[k], 0.0)                    # this thread's share of δ^{h_{t-1}}
        if not sync.barrier(s, step, K):
            return
        sum_shares(mine, dh_rec, u0, u1)


def forward(xw, table, ids, gathered, W_h, m, masked, code, h_buf, h_new, units):
    """Run ``forward_units`` on len(units) threads over rnn_layer.forward's buffers."""
    N, dtype = h_buf.shape[1], h_buf.dtype
    s, K, W = sync.new(), len(units), blocks(W_h, units)

    def part(k, u0, u1):
        forward_units(xw, table, ids, gathered, W[k][0], m, masked, code, h_buf, h_new,
                      np.empty((N, u1 - u0), dtype), u0, u1, s, K)
    split.run(part, units, on_error=lambda: sync.abort(s))


def backward(dhs, h_new, W_h, m, masked, code, ids, gathered, dh_rec, dh_dir, da, dtable, units):
    """Run ``backward_units`` on len(units) threads over rnn_layer.backward's buffers (dtable shared)."""
    N, H = dh_rec.shape
    s, K, W = sync.new(), len(units), blocks(W_h, units)
    partial = np.empty((2, K, N, H), dh_rec.dtype)

    def part(k, u0, u1):
        backward_units(dhs, h_new, W[k][1], m, masked, code, ids, gathered, dh_rec, dh_dir, da,
                       np.empty((N, u1 - u0), dh_rec.dtype), partial, dtable, k, u0, u1, s, K)
    split.run(part, units, on_error=lambda: sync.abort(s))
