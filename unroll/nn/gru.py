"""Gated recurrent unit (GRU), and full backpropagation through time.

Forward, for t = 1..T (row vectors; the three gate blocks of ``W_x (D, 3H)``, ``W_h (H, 3H)`` and
``b (3H,)`` are r, z, n; the reset gate is applied after the recurrent product, as in cuDNN and PyTorch)::

    r_t = σ(x_t W_xr + h_{t-1} W_hr + b_r)                        (reset gate)
    z_t = σ(x_t W_xz + h_{t-1} W_hz + b_z)                        (update gate)
    n_t = tanh(x_t W_xn + b_n + r_t ⊙ (h_{t-1} W_hn + b_hn))      (candidate, the seeds' h̃_t)
    h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ n_t

This is the seeds' form: a leaky unit whose rate z_t is learned. PyTorch writes h_t = (1 - z) n + z h,
so its z is 1 - ours; unroll.interop maps one onto the other exactly.

Backward (docs/derivations.md, section "GRU"), with δ^{h_t} the gradient flowing into h_t from the future,
∂L_t/∂h_t the gradient from the output at step t, a^r_t, a^z_t, a^n_t the pre-activations and
u_t = h_{t-1} W_hn + b_hn::

    δh          = ∂L_t/∂h_t + δ^{h_t}
    δ^{a^z_t}   = δh ⊙ (n_t - h_{t-1}) ⊙ z_t (1 - z_t)
    δ^{a^n_t}   = δh ⊙ z_t ⊙ (1 - n_t²)
    δ^{a^r_t}   = δ^{a^n_t} ⊙ u_t ⊙ r_t (1 - r_t)
    δ^{u_t}     = δ^{a^n_t} ⊙ r_t
    δ^{h_{t-1}} = δh ⊙ (1 - z_t) + [δ^{a^r_t}, δ^{a^z_t}, δ^{u_t}] W_hᵀ
    ∂L/∂W_x = Σ_t x_tᵀ [δ^{a^r_t}, δ^{a^z_t}, δ^{a^n_t}],   ∂L/∂b = Σ_t [δ^{a^r_t}, δ^{a^z_t}, δ^{a^n_t}]
    ∂L/∂W_h = Σ_t h_{t-1}ᵀ [δ^{a^r_t}, δ^{a^z_t}, δ^{u_t}],   ∂L/∂b_hn = Σ_t δ^{u_t}

Only ``h_{t-1} W_h`` (one product for all three blocks) and the elementwise work stay inside the time loop:
the input projection of all T·N rows is one matrix product before it, and the weight gradients are one
product (or sum) each after it.

With a mask ``(T, N)`` a padded step carries the state through unchanged and outputs zeros.

Cache memory: 5·T·N·H floats (r, z, n, h_{t-1} and u_t at every step) plus the input.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.nn import checks, kernels, ops
from unroll.nn.kernels import split


TAKES_ROW_GATHER = True     # forward's xw may be an ops.RowGather (the folded embedding): see forward


class GRUCache(NamedTuple):
    x: object                # (T, N, D) inputs; None when forward got xw; the ops.RowGather when it got one
    h_prev: np.ndarray       # (T, N, H) state entering step t, h_{t-1}
    gates: np.ndarray        # (T, N, 3H) post-activation r_t, z_t, n_t side by side
    u: np.ndarray            # (T, N, H) h_{t-1} W_hn + b_hn, the recurrent part the reset gate scales
    mask: np.ndarray | None  # (T, N, 1) 1.0 on real steps, or None
    params: dict             # the parameters used (read only)


def init(input_size: int, hidden_size: int, rng: np.random.Generator, dtype=np.float32) -> dict:
    """Parameters drawn like PyTorch's: uniform(-1/sqrt(H), 1/sqrt(H)), every one including b_hn.

    Returns {"W_x": (D, 3H), "W_h": (H, 3H), "b": (3H,), "b_hn": (H,)}, gate blocks r, z, n.
    """
    from unroll.nn.init import draw_uniform
    return draw_uniform(param_shapes(input_size, hidden_size), hidden_size, rng, dtype)


def param_shapes(D: int | str, H: int | str) -> dict[str, tuple]:
    three_h = 3 * H if isinstance(H, int) else f"3{H}"
    return {"W_x": (D, three_h), "W_h": (H, three_h), "b": (three_h,), "b_hn": (H,)}


def forward(x: np.ndarray | None, params: dict, state0: np.ndarray | None = None, mask=None,
            xw: np.ndarray | None = None):
    """Run the GRU over a whole sequence.

    x: (T, N, D), state0: (N, H) or None (zeros), mask: (T, N) or None
    xw: (T, N, 3H) or None: the input projection ``x W_x + b`` already computed by the caller (the language
        model's embedding fold, docs/performance.md); x is then None, and backward returns the gradient
        w.r.t. xw in place of dx and None for W_x and b. Or an ``ops.RowGather(table (V, 3H), ids (T, N))``
        with ``xw[t, n] = table[ids[t, n]]``: backward then returns δtable (V, 3H) in place of dx
    returns hs: (T, N, H), state: (N, H) the final state, cache: GRUCache
    """
    T, N, H, dtype = _check_inputs(x, params, state0, xw)
    m = checks.mask_array(mask, T, N, dtype)
    W_h, b_hn = params["W_h"], params["b_hn"]
    gather = xw if isinstance(xw, ops.RowGather) else None
    h = np.zeros((N, H), dtype) if state0 is None else state0
    if kernels.layer_loop(N):                                  # the whole loop in one call (kernels/gru_layer)
        if xw is None:
            xw = ops.linear_forward(x, params["W_x"], params["b"])
        h_buf, gates, u, hs = kernels.load("gru_layer").forward(None if gather else xw, *(gather or (None, None)),
                                                                W_h, b_hn, h, _mask_rows(m))
        return hs, h_buf[T].copy(), GRUCache(gather or x, h_buf[:T], gates, u, m, params)
    if gather is not None:
        xw = gather.rows()                                     # xw_t = table[x_t]
    elif xw is None:
        xw = ops.linear_forward(x, params["W_x"], params["b"])  # (T, N, 3H): input side of r, z, n, all steps
    x = gather or x
    if kernels.fused(N):                                       # the same loop, fused (unroll/nn/kernels)
        h_prev, gates, u, hs = kernels.load("gru").forward(xw, W_h, b_hn, h, _mask_rows(m))
        return hs, h_prev[T].copy(), GRUCache(x, h_prev[:T], gates, u, m, params)
    h_prev = np.empty((T, N, H), dtype)
    gates = np.empty((T, N, 3 * H), dtype)
    u = np.empty((T, N, H), dtype)
    hs = np.empty((T, N, H), dtype)
    for t in range(T):
        h_prev[t] = h
        hw = h @ W_h                                           # h_{t-1} W_h, all three blocks
        gates[t, :, :2 * H] = ops.sigmoid(xw[t, :, :2 * H] + hw[:, :2 * H])  # r_t, z_t
        r, z = gates[t, :, :H], gates[t, :, H:2 * H]
        u[t] = hw[:, 2 * H:] + b_hn                            # u_t = h_{t-1} W_hn + b_hn
        gates[t, :, 2 * H:] = np.tanh(xw[t, :, 2 * H:] + r * u[t])  # n_t = tanh(x_t W_xn + b_n + r_t ⊙ u_t)
        n = gates[t, :, 2 * H:]
        hs[t] = (1.0 - z) * h + z * n                          # h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ n_t
        h = hs[t] if m is None else np.where(m[t] > 0, hs[t], h)
    if m is not None:
        hs *= m
    return hs, h.copy(), GRUCache(x, h_prev, gates, u, m, params)


def backward(dhs: np.ndarray, cache: GRUCache, dstate: np.ndarray | None = None):
    """Backpropagate through time.

    dhs: (T, N, H) gradient of the loss w.r.t. every output, dstate: (N, H) w.r.t. the final state
    returns dx: (T, N, D), dstate0: (N, H), grads: {"W_x", "W_h", "b", "b_hn"}
    """
    x, h_prev, gates, u, m, params = cache
    T, N, H = h_prev.shape
    checks.float_array("dhs", dhs, (T, N, H), h_prev.dtype)
    dh_next = np.zeros((N, H), h_prev.dtype) if dstate is None else checks.float_array("dstate", dstate, (N, H), h_prev.dtype)
    if kernels.layer_loop(N):                                  # the whole loop in one call (kernels/gru_layer)
        gather = x if isinstance(x, ops.RowGather) else None
        da, dhw, dh0, dtable = kernels.load("gru_layer").backward(
            dhs, gates, h_prev, u, params["W_h"], dh_next, _mask_rows(m),
            *((gather.ids, gather.table.shape[0]) if gather else ()))
        return _weight_grads(da, dhw, x, h_prev, params, dh0, dtable)
    if kernels.fused(N):                                       # the same loop, fused (unroll/nn/kernels)
        da, dhw, dh0 = kernels.load("gru").backward(dhs, gates, h_prev, u, params["W_h"], dh_next, _mask_rows(m))
        return _weight_grads(da, dhw, x, h_prev, params, dh0)
    # d gate / d pre-activation from the outputs, all steps at once: s (1 - s) for r, z and 1 - n² for n
    dgate_da = ops.sigmoid_grad_from_output(gates)
    dgate_da[:, :, 2 * H:] = ops.tanh_grad_from_output(gates[:, :, 2 * H:])
    W_h_T = params["W_h"].T
    da = np.empty_like(gates)   # (T, N, 3H) δ^{a^r}, δ^{a^z}, δ^{a^n}: the input side x_t W_x + b
    dhw = np.empty_like(gates)  # (T, N, 3H) δ^{a^r}, δ^{a^z}, δ^{u}: the recurrent side h_{t-1} W_h
    for t in reversed(range(T)):
        r, z, n = np.split(gates[t], 3, axis=1)
        dh = dhs[t] + dh_next if m is None else m[t] * (dhs[t] + dh_next)
        # h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ n_t, w.r.t. z_t and n_t, then through σ and tanh
        da[t, :, H:2 * H] = dh * (n - h_prev[t]) * dgate_da[t, :, H:2 * H]
        da[t, :, 2 * H:] = da_n = dh * z * dgate_da[t, :, 2 * H:]
        # n_t = tanh(x_t W_xn + b_n + r_t ⊙ u_t), w.r.t. r_t (then through σ) and u_t
        da[t, :, :H] = da_n * u[t] * dgate_da[t, :, :H]
        dhw[t, :, :2 * H] = da[t, :, :2 * H]
        dhw[t, :, 2 * H:] = da_n * r
        # δ^{h_{t-1}}: the direct (1 - z_t) path plus the recurrent product h_{t-1} W_h
        dh_prev = dh * (1.0 - z) + dhw[t] @ W_h_T
        dh_next = dh_prev if m is None else dh_prev + (1.0 - m[t]) * dh_next  # padded steps pass state through
    return _weight_grads(da, dhw, x, h_prev, params, dh_next)


def _weight_grads(da, dhw, x, h_prev, params, dstate0, dtable=None):
    """dx and the weight gradients from the input side δ^{a} and the recurrent side (both (T, N, 3H)).
    When forward gathered xw from a table (x is the ops.RowGather), dx is δtable: ``dtable`` when the loop
    scattered it, else the scatter of δ^{a} here."""
    H = h_prev.shape[-1]
    dW_h = split.matmul(h_prev.reshape(-1, H).T, dhw.reshape(-1, 3 * H))
    db_hn = dhw[:, :, 2 * H:].sum(axis=(0, 1))
    if isinstance(x, ops.RowGather):                           # δtable[x_t] += δ^{a_t}
        if dtable is None:
            dtable = ops.embedding_backward(da, x.ids, x.table.shape[0])
        return dtable, dstate0, {"W_x": None, "W_h": dW_h, "b": None, "b_hn": db_hn}
    if x is None:                                              # forward was given xw: its gradient is δ^{a}
        return da, dstate0, {"W_x": None, "W_h": dW_h, "b": None, "b_hn": db_hn}
    dx, dW_x, db = ops.linear_backward(da, x, params["W_x"])
    return dx, dstate0, {"W_x": dW_x, "W_h": dW_h, "b": db, "b_hn": db_hn}


def _mask_rows(m):
    """The (T, N, 1) mask as a contiguous (T, N) array for the kernels, or None."""
    return None if m is None else np.ascontiguousarray(m[:, :, 0])


def step(x_t: np.ndarray | None, params: dict, state: np.ndarray, xw: np.ndarray | None = None) -> np.ndarray:
    """One timestep, for decoding: x_t (N, D), state (N, H) -> new state (N, H). xw: x_t W_x + b (N, 3H)
    already made (a row of the folded embedding's table, as forward's xw), x_t then unused."""
    H = state.shape[1]
    xw = x_t @ params["W_x"] + params["b"] if xw is None else xw
    hw = state @ params["W_h"]
    r = ops.sigmoid(xw[:, :H] + hw[:, :H])
    z = ops.sigmoid(xw[:, H:2 * H] + hw[:, H:2 * H])
    n = np.tanh(xw[:, 2 * H:] + r * (hw[:, 2 * H:] + params["b_hn"]))
    return (1.0 - z) * state + z * n


def _check_inputs(x, params, state0, xw=None):
    """Validate x (or xw, or its RowGather), params and state0; return T, N, H and the dtype."""
    if isinstance(xw, ops.RowGather):
        H = params["W_h"].shape[0] if isinstance(params, dict) and "W_h" in params else 1
        T, N = xw.check("xw", 3 * H, None)
        xw = np.broadcast_to(np.zeros((), xw.table.dtype), (T, N, 3 * H))   # what the checks below read
    T, N, H, dtype = checks.sequence_inputs(ops.projection_stand_in(x, xw, params), params, param_shapes)
    if xw is not None:
        checks.float_array("xw", xw, (T, N, 3 * H), dtype)
    if state0 is not None:
        checks.float_array("state0", state0, (N, H), dtype)
    return T, N, H, dtype
