"""Long short-term memory (LSTM), and full backpropagation through time.

Forward, for t = 1..T (row vectors, so ``x_t W_xi`` is the seeds' ``W_xi x_t``; the four gate blocks of
``W_x (D, 4H)``, ``W_h (H, 4H)`` and ``b (4H,)`` are in PyTorch's order i, f, g, o)::

    i_t = σ(x_t W_xi + h_{t-1} W_hi + b_i)              (input gate)
    f_t = σ(x_t W_xf + h_{t-1} W_hf + b_f)              (forget gate)
    g_t = tanh(x_t W_xg + h_{t-1} W_hg + b_g)           (candidate)
    o_t = σ(x_t W_xo + h_{t-1} W_ho + b_o)              (output gate)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

Backward (docs/derivations.md, section "LSTM"), with δ^{h_t}, δ^{c_t} the gradients flowing into h_t and
c_t from the future, ∂L_t/∂h_t the gradient from the output at step t, and a^i_t ... the pre-activations::

    δh          = ∂L_t/∂h_t + δ^{h_t}
    δc          = δ^{c_t} + δh ⊙ o_t ⊙ (1 - tanh²(c_t))
    δ^{a^o_t}   = δh ⊙ tanh(c_t) ⊙ o_t (1 - o_t)
    δ^{a^i_t}   = δc ⊙ g_t ⊙ i_t (1 - i_t)
    δ^{a^f_t}   = δc ⊙ c_{t-1} ⊙ f_t (1 - f_t)
    δ^{a^g_t}   = δc ⊙ i_t ⊙ (1 - g_t²)
    δ^{c_{t-1}} = δc ⊙ f_t
    δ^{h_{t-1}} = δ^{a_t} W_hᵀ                          (δ^{a_t} = [δ^{a^i_t}, δ^{a^f_t}, δ^{a^g_t}, δ^{a^o_t}])
    ∂L/∂W_x = Σ_t x_tᵀ δ^{a_t},   ∂L/∂W_h = Σ_t h_{t-1}ᵀ δ^{a_t},   ∂L/∂b = Σ_t δ^{a_t}

Only ``h_{t-1} W_h`` (one product for all four gates) and the elementwise work stay inside the time loop:
the input projection of all T·N rows is one matrix product before it, and the three weight gradients are
one product each after it.

With a mask ``(T, N)`` a padded step carries (h, c) through unchanged and outputs zeros.

Cache memory: 7·T·N·H floats (the four gates, h_{t-1}, c_{t-1} and tanh(c_t) at every step) plus the input.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.nn import checks, kernels, ops
from unroll.nn.kernels import split


TAKES_ROW_GATHER = True     # forward's xw may be an ops.RowGather (the folded embedding): see forward


class LSTMCache(NamedTuple):
    x: object                # (T, N, D) inputs; None when forward got xw; the ops.RowGather when it got one
    h_prev: np.ndarray       # (T, N, H) hidden state entering step t, h_{t-1}
    c_prev: np.ndarray       # (T, N, H) cell state entering step t, c_{t-1}
    gates: np.ndarray        # (T, N, 4H) post-activation i_t, f_t, g_t, o_t side by side
    tanh_c: np.ndarray       # (T, N, H) tanh(c_t) of the new cell state
    mask: np.ndarray | None  # (T, N, 1) 1.0 on real steps, or None
    params: dict             # the parameters used (read only)


def init(input_size: int, hidden_size: int, rng: np.random.Generator, dtype=np.float32) -> dict:
    """Parameters drawn like PyTorch's: uniform(-1/sqrt(H), 1/sqrt(H)), then the forget bias set to 1.

    Returns {"W_x": (D, 4H), "W_h": (H, 4H), "b": (4H,)}, gate blocks i, f, g, o.
    """
    from unroll.nn.init import draw_uniform
    H = hidden_size
    params = draw_uniform(param_shapes(input_size, H), H, rng, dtype)
    params["b"][H:2 * H] = 1.0  # remember by default early in training (Gers et al., Jozefowicz et al.)
    return params


def param_shapes(D: int | str, H: int | str) -> dict[str, tuple]:
    four_h = 4 * H if isinstance(H, int) else f"4{H}"
    return {"W_x": (D, four_h), "W_h": (H, four_h), "b": (four_h,)}


def forward(x: np.ndarray | None, params: dict, state0: tuple | None = None, mask=None, xw: np.ndarray | None = None):
    """Run the LSTM over a whole sequence.

    x: (T, N, D), state0: a tuple (h0, c0) of (N, H) arrays or None (zeros), mask: (T, N) or None
    xw: (T, N, 4H) or None: the input projection ``x W_x + b`` already computed by the caller (the language
        model's embedding fold, docs/performance.md); x is then None, and backward returns the gradient
        w.r.t. xw in place of dx and None for W_x and b. Or an ``ops.RowGather(table (V, 4H), ids (T, N))``
        with ``xw[t, n] = table[ids[t, n]]``: backward then returns δtable (V, 4H) in place of dx
    returns hs: (T, N, H), state: (h_T, c_T) each (N, H), cache: LSTMCache
    """
    T, N, H, dtype = _check_inputs(x, params, state0, xw)
    m = checks.mask_array(mask, T, N, dtype)
    W_h = params["W_h"]
    gather = xw if isinstance(xw, ops.RowGather) else None
    h, c = (np.zeros((N, H), dtype), np.zeros((N, H), dtype)) if state0 is None else state0
    if kernels.layer_loop(N):                                  # the whole loop in one call (kernels/lstm_layer)
        if xw is None:
            xw = ops.linear_forward(x, params["W_x"], params["b"])
        h_buf, c_buf, gates, tanh_c, hs = kernels.load("lstm_layer").forward(
            None if gather else xw, *(gather or (None, None)), W_h, h, c, _mask_rows(m))
        return (hs, (h_buf[T].copy(), c_buf[T].copy()),
                LSTMCache(gather or x, h_buf[:T], c_buf[:T], gates, tanh_c, m, params))
    if gather is not None:
        xw = gather.rows()                                     # xw_t = table[x_t]
    elif xw is None:
        xw = ops.linear_forward(x, params["W_x"], params["b"])  # (T, N, 4H): input side of all gates, all steps
    x = gather or x
    if kernels.fused(N):                                       # the same loop, fused (unroll/nn/kernels)
        h_prev, c_prev, gates, tanh_c, hs = kernels.load("lstm").forward(xw, W_h, h, c, _mask_rows(m))
        return (hs, (h_prev[T].copy(), c_prev[T].copy()),
                LSTMCache(x, h_prev[:T], c_prev[:T], gates, tanh_c, m, params))
    h_prev = np.empty((T, N, H), dtype)
    c_prev = np.empty((T, N, H), dtype)
    gates = np.empty((T, N, 4 * H), dtype)
    tanh_c = np.empty((T, N, H), dtype)
    hs = np.empty((T, N, H), dtype)
    for t in range(T):
        h_prev[t], c_prev[t] = h, c
        a = xw[t] + h @ W_h                                    # a_t = x_t W_x + h_{t-1} W_h + b, all four gates
        gates[t, :, :2 * H] = ops.sigmoid(a[:, :2 * H])        # i_t, f_t
        gates[t, :, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])  # g_t
        gates[t, :, 3 * H:] = ops.sigmoid(a[:, 3 * H:])        # o_t
        i, f, g, o = np.split(gates[t], 4, axis=1)
        c_new = f * c + i * g                                  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        tanh_c[t] = np.tanh(c_new)
        hs[t] = o * tanh_c[t]                                  # h_t = o_t ⊙ tanh(c_t)
        if m is None:
            h, c = hs[t], c_new
        else:
            h, c = np.where(m[t] > 0, hs[t], h), np.where(m[t] > 0, c_new, c)
    if m is not None:
        hs *= m
    return hs, (h.copy(), c.copy()), LSTMCache(x, h_prev, c_prev, gates, tanh_c, m, params)


def backward(dhs: np.ndarray, cache: LSTMCache, dstate: tuple | None = None):
    """Backpropagate through time.

    dhs: (T, N, H) gradient of the loss w.r.t. every output,
    dstate: None or a tuple (dh_T, dc_T) w.r.t. the final state, each (N, H) or None (zero)
    returns dx: (T, N, D), dstate0: (dh0, dc0) each (N, H), grads: {"W_x", "W_h", "b"}
    """
    x, h_prev, c_prev, gates, tanh_c, m, params = cache
    T, N, H = h_prev.shape
    dtype = h_prev.dtype
    checks.float_array("dhs", dhs, (T, N, H), dtype)
    dh_next, dc_next = _check_dstate(dstate, N, H, dtype)
    if kernels.layer_loop(N):                                  # the whole loop in one call (kernels/lstm_layer)
        gather = x if isinstance(x, ops.RowGather) else None
        da, dh0, dc0, dtable = kernels.load("lstm_layer").backward(
            dhs, gates, tanh_c, c_prev, params["W_h"], dh_next, dc_next, _mask_rows(m),
            *((gather.ids, gather.table.shape[0]) if gather else ()))
        return _weight_grads(da, x, h_prev, params, (dh0, dc0), dtable)
    if kernels.fused(N):                                       # the same loop, fused (unroll/nn/kernels)
        da, dh0, dc0 = kernels.load("lstm").backward(dhs, gates, tanh_c, c_prev, params["W_h"], dh_next, dc_next,
                                                     _mask_rows(m))
        return _weight_grads(da, x, h_prev, params, (dh0, dc0))
    # d gate / d pre-activation from the outputs, all steps at once: s (1 - s) for i, f, o and 1 - g² for g
    dgate_da = ops.sigmoid_grad_from_output(gates)
    dgate_da[:, :, 2 * H:3 * H] = ops.tanh_grad_from_output(gates[:, :, 2 * H:3 * H])
    W_h_T = params["W_h"].T
    da = np.empty_like(gates)
    for t in reversed(range(T)):
        i, f, g, o = np.split(gates[t], 4, axis=1)
        dh = dhs[t] + dh_next if m is None else m[t] * (dhs[t] + dh_next)  # into h_t = o_t ⊙ tanh(c_t)
        dc = dh * o * ops.tanh_grad_from_output(tanh_c[t])     # h_t = o_t ⊙ tanh(c_t), through tanh(c_t)
        dc += dc_next if m is None else m[t] * dc_next         # δ^{c_t} from the future
        # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t  and  h_t = o_t ⊙ tanh(c_t), w.r.t. i, f, g, o; then through σ / tanh
        da[t] = np.concatenate([dc * g, dc * c_prev[t], dc * i, dh * tanh_c[t]], axis=1) * dgate_da[t]
        if m is None:
            dc_next = dc * f                                   # δ^{c_{t-1}} = δc ⊙ f_t
            dh_next = da[t] @ W_h_T                            # δ^{h_{t-1}} = δ^{a_t} W_hᵀ
        else:  # a padded step passed the state through: state_t = m new_t + (1 - m) state_{t-1}
            dc_next = dc * f + (1.0 - m[t]) * dc_next
            dh_next = da[t] @ W_h_T + (1.0 - m[t]) * dh_next
    return _weight_grads(da, x, h_prev, params, (dh_next, dc_next))


def _weight_grads(da, x, h_prev, params, dstate0, dtable=None):
    """dx and the weight gradients from δ^{a} (T, N, 4H), one product each: returns backward's triple.
    When forward gathered xw from a table (x is the ops.RowGather), dx is δtable: ``dtable`` when the loop
    scattered it, else the scatter of δ^{a} here."""
    H = h_prev.shape[-1]
    dW_h = split.matmul(h_prev.reshape(-1, H).T, da.reshape(-1, 4 * H))   # Σ_t h_{t-1}ᵀ δ^{a_t}, one product
    if isinstance(x, ops.RowGather):                           # δtable[x_t] += δ^{a_t}
        if dtable is None:
            dtable = ops.embedding_backward(da, x.ids, x.table.shape[0])
        return dtable, dstate0, {"W_x": None, "W_h": dW_h, "b": None}
    if x is None:                                              # forward was given xw: its gradient is δ^{a}
        return da, dstate0, {"W_x": None, "W_h": dW_h, "b": None}
    dx, dW_x, db = ops.linear_backward(da, x, params["W_x"])
    return dx, dstate0, {"W_x": dW_x, "W_h": dW_h, "b": db}


def _mask_rows(m):
    """The (T, N, 1) mask as a contiguous (T, N) array for the kernels, or None."""
    return None if m is None else np.ascontiguousarray(m[:, :, 0])


def step(x_t: np.ndarray | None, params: dict, state: tuple, xw: np.ndarray | None = None) -> tuple:
    """One timestep, for decoding: x_t (N, D), state (h, c) each (N, H) -> new state (h, c). xw: x_t W_x + b
    (N, 4H) already made (a row of the folded embedding's table, as forward's xw), x_t then unused."""
    h, c = state
    H = h.shape[1]
    a = x_t @ params["W_x"] + h @ params["W_h"] + params["b"] if xw is None else xw + h @ params["W_h"]
    i, f, o = ops.sigmoid(a[:, :H]), ops.sigmoid(a[:, H:2 * H]), ops.sigmoid(a[:, 3 * H:])
    c = f * c + i * np.tanh(a[:, 2 * H:3 * H])
    return o * np.tanh(c), c


def _check_inputs(x, params, state0, xw=None):
    """Validate x (or xw, or its RowGather), params and state0; return T, N, H and the dtype."""
    if isinstance(xw, ops.RowGather):
        H = params["W_h"].shape[0] if isinstance(params, dict) and "W_h" in params else 1
        T, N = xw.check("xw", 4 * H, None)
        xw = np.broadcast_to(np.zeros((), xw.table.dtype), (T, N, 4 * H))   # what the checks below read
    T, N, H, dtype = checks.sequence_inputs(ops.projection_stand_in(x, xw, params), params, param_shapes)
    if xw is not None:
        checks.float_array("xw", xw, (T, N, 4 * H), dtype)
    if state0 is not None:
        if not isinstance(state0, tuple) or len(state0) != 2:
            raise ValueError(f"state0 must be a tuple (h0, c0) of arrays (N, H) = ({N}, {H}), "
                             f"got {type(state0).__name__}")
        checks.float_array("state0[0] (h0)", state0[0], (N, H), dtype)
        checks.float_array("state0[1] (c0)", state0[1], (N, H), dtype)
    return T, N, H, dtype


def _check_dstate(dstate, N, H, dtype):
    """Validate dstate = None | (dh_T, dc_T) and return both as arrays (zeros where None)."""
    if dstate is None:
        dstate = (None, None)
    if not isinstance(dstate, tuple) or len(dstate) != 2:
        raise ValueError(f"dstate must be None or a tuple (dh_T, dc_T) of arrays (N, H) = ({N}, {H}), "
                         f"got {type(dstate).__name__}")
    return tuple(np.zeros((N, H), dtype) if d is None else checks.float_array(name, d, (N, H), dtype)
                 for name, d in zip(("dstate[0] (dh_T)", "dstate[1] (dc_T)"), dstate))
