"""LSTM with recurrent (variational) dropout and zoneout, and full backpropagation through time.

The LSTM of ``unroll/nn/lstm.py`` (gate blocks i, f, g, o) with two regularisers of the recurrence, both
given as arrays, so that the caller draws them (and a gradient check can fix them):

- recurrent dropout (Gal & Ghahramani, 2016): one keep-mask ``r (N, H)`` per sequence, already scaled
  (0 or 1/(1-p)), on h_{t-1} where it enters the gates, the same at every step;
- zoneout (Krueger et al., 2017): per step and unit, ``zh, zc (T, N, H)`` say how much of the previous h
  and c a unit keeps (1 = zoned out, keeps it; 0 = updates; in evaluation the expectation p).

Forward, for t = 1..T::

    ĥ_{t-1} = h_{t-1} ⊙ r
    a_t     = x_t W_x + ĥ_{t-1} W_h + b                       (all four gates; i, f, o: σ, g: tanh)
    c̃_t     = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    c_t     = zc_t ⊙ c_{t-1} + (1 - zc_t) ⊙ c̃_t
    h_t     = zh_t ⊙ h_{t-1} + (1 - zh_t) ⊙ o_t ⊙ tanh(c̃_t)

Backward, with δ^{h_t}, δ^{c_t} flowing in from the future::

    δh          = ∂L_t/∂h_t + δ^{h_t}
    δh̃          = (1 - zh_t) ⊙ δh
    δc̃          = (1 - zc_t) ⊙ δ^{c_t} + δh̃ ⊙ o_t ⊙ (1 - tanh²(c̃_t))
    δ^{a^o_t}   = δh̃ ⊙ tanh(c̃_t) ⊙ o_t (1 - o_t)
    δ^{a^i_t}   = δc̃ ⊙ g_t ⊙ i_t (1 - i_t)
    δ^{a^f_t}   = δc̃ ⊙ c_{t-1} ⊙ f_t (1 - f_t)
    δ^{a^g_t}   = δc̃ ⊙ i_t ⊙ (1 - g_t²)
    δ^{c_{t-1}} = δc̃ ⊙ f_t + zc_t ⊙ δ^{c_t}
    δ^{h_{t-1}} = (δ^{a_t} W_hᵀ) ⊙ r + zh_t ⊙ δh
    ∂L/∂W_x = Σ_t x_tᵀ δ^{a_t},   ∂L/∂W_h = Σ_t ĥ_{t-1}ᵀ δ^{a_t},   ∂L/∂b = Σ_t δ^{a_t}

With r = 1 and zh = zc = 0 this is lstm.py's LSTM exactly. No padding mask (the language model's setting).
The fused path runs ``kernels/lstm_layer.py``'s regularised whole-layer loop (with the batch split); the
NumPy loop below is the reference it is tested against. Parameters and ``init`` are lstm.py's.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.nn import checks, kernels, lstm, ops

TAKES_ROW_GATHER = True     # forward's xw may be an ops.RowGather (the language model's folded embedding)

init, param_shapes = lstm.init, lstm.param_shapes


class RegCache(NamedTuple):
    x: object                # (T, N, D) inputs, None when forward got xw, the ops.RowGather when it got one
    h_hat: np.ndarray        # (T, N, H) ĥ_{t-1} = h_{t-1} ⊙ r
    c_prev: np.ndarray       # (T, N, H) c_{t-1}
    gates: np.ndarray        # (T, N, 4H) i, f, g, o
    tanh_c: np.ndarray       # (T, N, H) tanh(c̃_t)
    masks: tuple             # (r (N, H), zh (T, N, H), zc (T, N, H))
    params: dict


def forward(x, params: dict, state0: tuple | None = None, recurrent_keep=None, zoneout=None, xw=None):
    """x (T, N, D) or xw (T, N, 4H) / ops.RowGather as in lstm.forward; recurrent_keep (N, H) or None
    (ones); zoneout a tuple (zh, zc) of (T, N, H) arrays or None (zeros).

    returns hs (T, N, H), (h_T, c_T), RegCache
    """
    T, N, H, dtype = lstm._check_inputs(x, params, state0, xw)
    r, zh, zc = _masks(recurrent_keep, zoneout, T, N, H, dtype)
    h, c = (np.zeros((N, H), dtype), np.zeros((N, H), dtype)) if state0 is None else state0
    gather = xw if isinstance(xw, ops.RowGather) else None
    if kernels.layer_loop(N):
        if xw is None:
            xw = ops.linear_forward(x, params["W_x"], params["b"])
        h_buf, c_buf, h_hat, gates, tanh_c = kernels.load("lstm_layer").forward_regularized(
            None if gather else xw, *(gather or (None, None)), params["W_h"], h, c, r, zh, zc)
        return h_buf[1:], (h_buf[T].copy(), c_buf[T].copy()), RegCache(gather or x, h_hat, c_buf[:T], gates, tanh_c,
                                                                      (r, zh, zc), params)
    xw = gather.rows() if gather else (ops.linear_forward(x, params["W_x"], params["b"]) if xw is None else xw)
    h_hat, c_prev = np.empty((T, N, H), dtype), np.empty((T, N, H), dtype)
    gates, tanh_c, hs = np.empty((T, N, 4 * H), dtype), np.empty((T, N, H), dtype), np.empty((T, N, H), dtype)
    for t in range(T):
        h_hat[t], c_prev[t] = h * r, c                         # ĥ_{t-1} = h_{t-1} ⊙ r
        a = xw[t] + h_hat[t] @ params["W_h"]
        gates[t, :, :2 * H] = ops.sigmoid(a[:, :2 * H])
        gates[t, :, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
        gates[t, :, 3 * H:] = ops.sigmoid(a[:, 3 * H:])
        i, f, g, o = np.split(gates[t], 4, axis=1)
        c_tilde = f * c + i * g                                # c̃_t
        tanh_c[t] = np.tanh(c_tilde)
        c = zc[t] * c + (1.0 - zc[t]) * c_tilde                # c_t = zc c_{t-1} + (1 - zc) c̃_t
        h = hs[t] = zh[t] * h + (1.0 - zh[t]) * (o * tanh_c[t])  # h_t = zh h_{t-1} + (1 - zh) o tanh(c̃_t)
    return hs, (h.copy(), c.copy()), RegCache(gather or x, h_hat, c_prev, gates, tanh_c, (r, zh, zc), params)


def backward(dhs: np.ndarray, cache: RegCache, dstate: tuple | None = None):
    """dhs (T, N, H), dstate None or (dh_T, dc_T) -> dx (or δxw, or δtable), (dh0, dc0), grads."""
    x, h_hat, c_prev, gates, tanh_c, (r, zh, zc), params = cache
    T, N, H = h_hat.shape
    checks.float_array("dhs", dhs, (T, N, H), h_hat.dtype)
    dh_next, dc_next = lstm._check_dstate(dstate, N, H, h_hat.dtype)
    if kernels.layer_loop(N):
        gather = x if isinstance(x, ops.RowGather) else None
        da, dh0, dc0, dtable = kernels.load("lstm_layer").backward_regularized(
            dhs, gates, tanh_c, c_prev, params["W_h"], dh_next, dc_next, r, zh, zc,
            *((gather.ids, gather.table.shape[0]) if gather else ()))
        return lstm._weight_grads(da, x, h_hat, params, (dh0, dc0), dtable)
    W_h_T = params["W_h"].T
    da = np.empty_like(gates)
    for t in reversed(range(T)):
        i, f, g, o = np.split(gates[t], 4, axis=1)
        dh = dhs[t] + dh_next                                  # δh
        dht = (1.0 - zh[t]) * dh                               # δh̃
        dct = (1.0 - zc[t]) * dc_next + dht * o * ops.tanh_grad_from_output(tanh_c[t])   # δc̃
        sig, tnh = ops.sigmoid_grad_from_output, ops.tanh_grad_from_output
        da[t] = np.concatenate([dct * g * sig(i), dct * c_prev[t] * sig(f), dct * i * tnh(g), dht * tanh_c[t] * sig(o)],
                               axis=1)                         # δ^{a^i}, δ^{a^f}, δ^{a^g}, δ^{a^o}
        dc_next = dct * f + zc[t] * dc_next                    # δ^{c_{t-1}} = δc̃ ⊙ f + zc ⊙ δ^{c_t}
        dh_next = (da[t] @ W_h_T) * r + zh[t] * dh             # δ^{h_{t-1}} = (δ^{a_t} W_hᵀ) ⊙ r + zh ⊙ δh
    return lstm._weight_grads(da, x, h_hat, params, (dh_next, dc_next))


def _masks(recurrent_keep, zoneout, T, N, H, dtype):
    """Check and fill in r (N, H) and zh, zc (T, N, H)."""
    r = np.ones((N, H), dtype) if recurrent_keep is None else checks.float_array("recurrent_keep", recurrent_keep,
                                                                               (N, H), dtype)
    if zoneout is None:
        zh = zc = np.zeros((T, N, H), dtype)
    else:
        if not isinstance(zoneout, tuple) or len(zoneout) != 2:
            raise ValueError(f"zoneout must be None or a tuple (zh, zc) of arrays (T, N, H) = ({T}, {N}, {H}), "
                             f"got {type(zoneout).__name__}")
        names = ("zoneout[0] (zh)", "zoneout[1] (zc)")
        zh, zc = (checks.float_array(name, z, (T, N, H), dtype) for name, z in zip(names, zoneout))
    return r, zh, zc
