"""Vanilla (Elman) RNN with tanh, ReLU, sigmoid or identity (linear) units, and full backpropagation through time.

Forward, for t = 1..T (row vectors, so ``x_t W_x`` is the seeds' ``W_xh x_t``)::

    a_t = x_t W_x + h_{t-1} W_h + b                     (pre-activation)
    h_t = f(a_t),   f = tanh | relu | sigmoid | identity     (ops.ACTIVATIONS)

Backward (docs/derivations.md, section "Vanilla RNN"), with δ^{h_t} the gradient flowing into h_t from
the future and ∂L_t/∂h_t the gradient from the output at step t::

    δ^{a_t}     = (∂L_t/∂h_t + δ^{h_t}) ⊙ f'(a_t)       f'(a) = 1 - h_t²  |  [h_t > 0]  |  h_t (1 - h_t)  |  1
    δ^{h_{t-1}} = δ^{a_t} W_hᵀ
    ∂L/∂W_x = Σ_t x_tᵀ δ^{a_t},   ∂L/∂W_h = Σ_t h_{t-1}ᵀ δ^{a_t},   ∂L/∂b = Σ_t δ^{a_t}

Only ``h_{t-1} W_h`` and the elementwise work stay inside the time loop: the input projection of all
T·N rows is one matrix product before it, and the three weight gradients are one product each after it.

With a mask ``(T, N)`` a padded step carries the state through unchanged and outputs zeros.

Cache memory: 2·T·N·H floats (the states entering each step and the new states) plus the input.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.nn import checks, kernels, ops
from unroll.nn.kernels import split


TAKES_ROW_GATHER = True     # forward's xw may be an ops.RowGather (the folded embedding): see forward


class RNNCache(NamedTuple):
    x: object                # (T, N, D) inputs; None when forward got xw; the ops.RowGather when it got one
    h_prev: np.ndarray       # (T, N, H) state entering step t, h_{t-1}
    h_new: np.ndarray        # (T, N, H) f(a_t), the post-activation value of step t
    mask: np.ndarray | None  # (T, N, 1) 1.0 on real steps, or None
    params: dict             # the parameters used (read only)
    activation: str          # a name in ops.ACTIVATIONS: "tanh" | "relu" | "sigmoid" | "identity"


def init(input_size: int, hidden_size: int, rng: np.random.Generator, dtype=np.float32) -> dict:
    """Parameters drawn like PyTorch's: uniform(-1/sqrt(H), 1/sqrt(H)).

    Returns {"W_x": (D, H), "W_h": (H, H), "b": (H,)}.
    """
    from unroll.nn.init import draw_uniform
    return draw_uniform(param_shapes(input_size, hidden_size), hidden_size, rng, dtype)


def param_shapes(D: int | str, H: int | str) -> dict[str, tuple]:
    return {"W_x": (D, H), "W_h": (H, H), "b": (H,)}


def forward(x: np.ndarray | None, params: dict, state0: np.ndarray | None = None, mask=None, activation: str = "tanh",
            xw: np.ndarray | None = None):
    """Run the RNN over a whole sequence.

    x: (T, N, D), state0: (N, H) or None (zeros), mask: (T, N) or None
    xw: (T, N, H) or None: the input projection ``x W_x + b`` already computed by the caller (the language
        model's embedding fold, docs/performance.md); x is then None, and backward returns the gradient
        w.r.t. xw in place of dx and None for W_x and b. Or an ``ops.RowGather(table (V, H), ids (T, N))``
        with ``xw[t, n] = table[ids[t, n]]``: backward then returns δtable (V, H) in place of dx
    returns hs: (T, N, H), state: (N, H) the final state, cache: RNNCache
    """
    T, N, H, dtype = _check_inputs(x, params, state0, xw)
    m = checks.mask_array(mask, T, N, dtype)
    f, _ = ops.activation(activation)
    W_h = params["W_h"]
    gather = xw if isinstance(xw, ops.RowGather) else None
    h = np.zeros((N, H), dtype) if state0 is None else state0
    if kernels.fused(N, activation) and kernels.layer_loop(N):  # the whole loop in one call (kernels/rnn_layer)
        if xw is None:
            xw = ops.linear_forward(x, params["W_x"], params["b"])
        h_buf, h_new = kernels.load("rnn_layer").forward(None if gather else xw, *(gather or (None, None)), W_h, h,
                                                         _mask_rows(m), kernels.ACTIVATION_CODES[activation])
        hs = h_new if m is None else h_new * m
        return hs, h_buf[T].copy(), RNNCache(gather or x, h_buf[:T], h_new, m, params, activation)
    if gather is not None:
        xw = gather.rows()                                     # xw_t = table[x_t]
    elif xw is None:
        xw = ops.linear_forward(x, params["W_x"], params["b"])  # (T, N, H): input side of a_t, all steps
    x = gather or x
    if kernels.fused(N, activation):                           # the same loop, fused (unroll/nn/kernels)
        h_prev, h_new = kernels.load("rnn").forward(xw, W_h, h, _mask_rows(m), kernels.ACTIVATION_CODES[activation])
        hs = h_new if m is None else h_new * m
        return hs, h_prev[T].copy(), RNNCache(x, h_prev[:T], h_new, m, params, activation)
    h_prev = np.empty((T, N, H), dtype)
    h_new = np.empty((T, N, H), dtype)
    for t in range(T):
        h_prev[t] = h
        h_new[t] = f(xw[t] + h @ W_h)                          # h_t = f(x_t W_x + h_{t-1} W_h + b)
        h = h_new[t] if m is None else np.where(m[t] > 0, h_new[t], h)
    hs = h_new if m is None else h_new * m
    return hs, h.copy(), RNNCache(x, h_prev, h_new, m, params, activation)


def backward(dhs: np.ndarray, cache: RNNCache, dstate: np.ndarray | None = None):
    """Backpropagate through time.

    dhs: (T, N, H) gradient of the loss w.r.t. every output, dstate: (N, H) w.r.t. the final state
    returns dx: (T, N, D), dstate0: (N, H), grads: {"W_x", "W_h", "b"}
    """
    x, h_prev, h_new, m, params, activation = cache
    T, N, H = h_new.shape
    checks.float_array("dhs", dhs, (T, N, H), h_new.dtype)
    dh_next = np.zeros((N, H), h_new.dtype) if dstate is None else checks.float_array("dstate", dstate, (N, H), h_new.dtype)
    if kernels.fused(N, activation) and kernels.layer_loop(N):  # the whole loop in one call (kernels/rnn_layer)
        gather = x if isinstance(x, ops.RowGather) else None
        da, dh0, dtable = kernels.load("rnn_layer").backward(
            dhs, h_new, params["W_h"], dh_next, _mask_rows(m), kernels.ACTIVATION_CODES[activation],
            *((gather.ids, gather.table.shape[0]) if gather else ()))
        return _weight_grads(da, x, h_prev, params, dh0, dtable)
    if kernels.fused(N, activation):                           # the same loop, fused (unroll/nn/kernels)
        da, dh_next = kernels.load("rnn").backward(dhs, h_new, params["W_h"], dh_next, _mask_rows(m),
                                                   kernels.ACTIVATION_CODES[activation])
        return _weight_grads(da, x, h_prev, params, dh_next)
    _, f_grad = ops.activation(activation)
    fprime = f_grad(h_new)                                     # f'(a_t) from the output, all steps at once
    W_h_T = params["W_h"].T
    da = np.empty_like(h_new)
    for t in reversed(range(T)):
        if m is None:
            da[t] = (dhs[t] + dh_next) * fprime[t]             # δ^{a_t} = (∂L_t/∂h_t + δ^{h_t}) ⊙ f'(a_t)
            dh_next = da[t] @ W_h_T                            # δ^{h_{t-1}} = δ^{a_t} W_hᵀ
        else:  # a padded step passed the state through: state_t = m h_new_t + (1 - m) h_{t-1}
            da[t] = m[t] * (dhs[t] + dh_next) * fprime[t]
            dh_next = da[t] @ W_h_T + (1.0 - m[t]) * dh_next
    return _weight_grads(da, x, h_prev, params, dh_next)


def _weight_grads(da, x, h_prev, params, dstate0, dtable=None):
    """dx and the weight gradients from δ^{a} (T, N, H), one product each: returns backward's triple.
    When forward gathered xw from a table (x is the ops.RowGather), dx is δtable: ``dtable`` when the loop
    scattered it, else the scatter of δ^{a} here."""
    H = da.shape[-1]
    dW_h = split.matmul(h_prev.reshape(-1, H).T, da.reshape(-1, H))
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


def step(x_t: np.ndarray | None, params: dict, state: np.ndarray, activation: str = "tanh",
         xw: np.ndarray | None = None) -> np.ndarray:
    """One timestep, for decoding: x_t (N, D), state (N, H) -> new state (N, H). xw: x_t W_x + b (N, H)
    already made (a row of the folded embedding's table, as forward's xw), x_t then unused."""
    f, _ = ops.activation(activation)
    return f(x_t @ params["W_x"] + state @ params["W_h"] + params["b"] if xw is None else xw + state @ params["W_h"])


def _check_inputs(x, params, state0, xw=None):
    """Validate x (or xw, or its RowGather), params and state0; return T, N, H and the dtype."""
    if isinstance(xw, ops.RowGather):
        H = params["W_h"].shape[0] if isinstance(params, dict) and "W_h" in params else 1
        T, N = xw.check("xw", H, None)
        xw = np.broadcast_to(np.zeros((), xw.table.dtype), (T, N, H))   # what the checks below read
    T, N, H, dtype = checks.sequence_inputs(ops.projection_stand_in(x, xw, params), params, param_shapes)
    if xw is not None:
        checks.float_array("xw", xw, (T, N, H), dtype)
    if state0 is not None:
        checks.float_array("state0", state0, (N, H), dtype)
    return T, N, H, dtype
