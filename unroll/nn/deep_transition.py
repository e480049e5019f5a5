"""Deep-transition RNN: an MLP of ``depth`` layers between h_{t-1} and h_t (seed 004, "introduce depth" in the
hidden-to-hidden block; Pascanu et al. 2014, DT-RNN and, with the shortcut, DT(S)-RNN).

Forward, for t = 1..T (row vectors, as in ``rnn.py``), L = depth >= 2::

    z⁰_t = f(x_t W_x + h_{t-1} W_h + b)                          (the plain RNN step: the first layer)
    zʲ_t = f(zʲ⁻¹_t W_j + b_j)                 j = 1 .. L-1       (the deeper transition)
    z^{L-1}_t = f(z^{L-2}_t W_{L-1} + h_{t-1} W_s + b_{L-1})      with ``shortcut=True`` (DT(S))
    h_t = z^{L-1}_t,   f = tanh | relu | sigmoid | identity

**Path length.** Every step from h_{t-1} to h_t now crosses L weight matrices and L nonlinearities instead
of one, so the shortest path from h_{t-k} to h_t has L·k of them: a deeper transition *lengthens* the
shortest path through time, and the gradient from step t reaches step t - k through L·k Jacobian factors,
vanishing (or exploding) L times faster in k. The shortcut W_s (a skip connection from h_{t-1} into the
last layer) *shortens it again* to k, while the deep path stays for what a step computes.
``unroll.analysis.paths.shortest_path_length`` measures this: with linear units and every weight ε·I,
‖∂h_t/∂h_{t-k}‖ is of order ε^{path length}.

Backward, with g_t = ∂L_t/∂h_t + δ^{h_t} (the gradient reaching h_t)::

    δ^{z^{L-1}} = g_t;      δ^{aʲ} = δ^{zʲ} ⊙ f'(aʲ) (from the output zʲ);      δ^{zʲ⁻¹} = δ^{aʲ} W_jᵀ
    δ^{h_{t-1}} = δ^{a⁰} W_hᵀ (+ δ^{a^{L-1}} W_sᵀ with the shortcut)
    ∂L/∂W_j = Σ_t zʲ⁻¹_tᵀ δ^{aʲ_t},   ∂L/∂b_j = Σ_t δ^{aʲ_t},   ∂L/∂W_s = Σ_t h_{t-1}ᵀ δ^{a^{L-1}_t}
    ∂L/∂W_x, ∂L/∂W_h, ∂L/∂b as the RNN's, from δ^{a⁰}

Parameters: W_x (D, H), W_h (H, H), b (H,), W_1..W_{L-1} (H, H), b_1..b_{L-1} (H,), and W_s (H, H) with the
shortcut; ``forward``/``backward`` read depth and shortcut from the keys. With a mask ``(T, N)`` a padded
step carries the state through unchanged and outputs zeros. Cache memory: (L + 1)·T·N·H floats plus x.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.nn import checks, ops
from unroll.nn import init as init_

DEFAULT_DEPTH = 2


class DeepTransitionCache(NamedTuple):
    x: np.ndarray            # (T, N, D) inputs
    h_prev: np.ndarray       # (T, N, H) state entering step t, h_{t-1}
    z: np.ndarray            # (L, T, N, H) every layer's output zʲ_t; z[L-1] is h_t (before masking)
    mask: np.ndarray | None  # (T, N, 1) 1.0 on real steps, or None
    params: dict             # the parameters used (read only)
    activation: str          # a name in ops.ACTIVATIONS


def param_shapes(D: int | str, H: int | str, depth: int = DEFAULT_DEPTH, shortcut: bool = False) -> dict:
    shapes = {"W_x": (D, H), "W_h": (H, H), "b": (H,)}
    for j in range(1, depth):
        shapes |= {f"W_{j}": (H, H), f"b_{j}": (H,)}
    return shapes | ({"W_s": (H, H)} if shortcut else {})


def init(input_size: int, hidden_size: int, rng: np.random.Generator, dtype=np.float32,
         depth: int = DEFAULT_DEPTH, shortcut: bool = False) -> dict:
    """Uniform(-1/sqrt(H), 1/sqrt(H)) like ``rnn.init``; with the shortcut, W_{L-1} and W_s scaled by 1/sqrt(2)
    so the last layer's two products together have the variance of one. Shapes: ``param_shapes``."""
    resolve_options({"depth": depth, "shortcut": shortcut})
    half = np.sqrt(0.5) if shortcut else 1.0
    return init_.draw_uniform(param_shapes(input_size, hidden_size, depth, shortcut), hidden_size, rng, dtype,
                              scales={f"W_{depth - 1}": half, "W_s": half})


def resolve_options(options: dict) -> dict:
    """Stack options with their defaults: depth (``DEFAULT_DEPTH``) >= 2, shortcut (False)."""
    options = {"depth": DEFAULT_DEPTH, "shortcut": False} | options
    depth = options["depth"]
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 2:
        raise ValueError(f"depth (layers in the transition MLP) must be an integer >= 2, got {depth!r}")
    if not isinstance(options["shortcut"], (bool, np.bool_)):
        raise ValueError(f"shortcut must be True or False, got {options['shortcut']!r}")
    return options


def forward(x: np.ndarray, params: dict, state0: np.ndarray | None = None, mask=None, activation: str = "tanh"):
    """Run the deep-transition RNN over a whole sequence.

    x: (T, N, D), state0: (N, H) or None (zeros), mask: (T, N) or None
    returns hs: (T, N, H), state: (N, H) the final state, cache: DeepTransitionCache
    """
    T, N, H, dtype, depth, shortcut = _check_inputs(x, params, state0)
    m = checks.mask_array(mask, T, N, dtype)
    f, _ = ops.activation(activation)
    xw = ops.linear_forward(x, params["W_x"], params["b"])  # (T, N, H): input side of a⁰_t, all steps
    h = np.zeros((N, H), dtype) if state0 is None else state0
    h_prev = np.empty((T, N, H), dtype)
    z = np.empty((depth, T, N, H), dtype)
    for t in range(T):
        h_prev[t] = h
        z[0, t] = f(xw[t] + h @ params["W_h"])                # z⁰ = f(x_t W_x + h_{t-1} W_h + b)
        for j in range(1, depth):
            a = z[j - 1, t] @ params[f"W_{j}"] + params[f"b_{j}"]   # zʲ = f(zʲ⁻¹ W_j + b_j)
            if shortcut and j == depth - 1:
                a += h @ params["W_s"]                         #   + h_{t-1} W_s in the last layer
            z[j, t] = f(a)
        h = z[-1, t] if m is None else np.where(m[t] > 0, z[-1, t], h)
    hs = z[-1] if m is None else z[-1] * m
    return hs.copy(), h.copy(), DeepTransitionCache(x, h_prev, z, m, params, activation)


def backward(dhs: np.ndarray, cache: DeepTransitionCache, dstate: np.ndarray | None = None):
    """Backpropagate through time and through the transition MLP.

    dhs: (T, N, H) gradient w.r.t. every output, dstate: (N, H) w.r.t. the final state, or None
    returns dx: (T, N, D), dstate0: (N, H), grads: the keys of params
    """
    x, h_prev, z, m, params, activation = cache
    depth, T, N, H = z.shape
    shortcut = "W_s" in params
    checks.float_array("dhs", dhs, (T, N, H), z.dtype)
    dh_next = np.zeros((N, H), z.dtype) if dstate is None else checks.float_array("dstate", dstate, (N, H), z.dtype)
    _, f_grad = ops.activation(activation)
    fprime = f_grad(z)                                         # f'(aʲ_t) from the outputs, all layers and steps
    da = np.empty_like(z)                                      # δ^{aʲ_t}
    for t in reversed(range(T)):
        g = dhs[t] + dh_next if m is None else m[t] * (dhs[t] + dh_next)   # gradient reaching h_t = z^{L-1}_t
        for j in reversed(range(depth)):
            da[j, t] = g * fprime[j, t]                        # δ^{aʲ} = δ^{zʲ} ⊙ f'(aʲ)
            if j > 0:
                g = da[j, t] @ params[f"W_{j}"].T              # δ^{zʲ⁻¹} = δ^{aʲ} W_jᵀ
        dh_prev = da[0, t] @ params["W_h"].T                   # δ^{h_{t-1}} = δ^{a⁰} W_hᵀ
        if shortcut:
            dh_prev += da[-1, t] @ params["W_s"].T             #   + δ^{a^{L-1}} W_sᵀ
        dh_next = dh_prev if m is None else dh_prev + (1.0 - m[t]) * dh_next
    dx, dW_x, db = ops.linear_backward(da[0], x, params["W_x"])
    flat = lambda a: a.reshape(-1, H)  # noqa: E731
    grads = {"W_x": dW_x, "W_h": flat(h_prev).T @ flat(da[0]), "b": db}
    for j in range(1, depth):
        grads |= {f"W_{j}": flat(z[j - 1]).T @ flat(da[j]), f"b_{j}": flat(da[j]).sum(axis=0)}
    if shortcut:
        grads["W_s"] = flat(h_prev).T @ flat(da[-1])
    return dx, dh_next, grads


def step(x_t: np.ndarray, params: dict, state: np.ndarray, activation: str = "tanh") -> np.ndarray:
    """One timestep, for decoding: x_t (N, D), state (N, H) -> new state (N, H)."""
    f, _ = ops.activation(activation)
    depth, shortcut = _structure(params)
    z = f(x_t @ params["W_x"] + state @ params["W_h"] + params["b"])
    for j in range(1, depth):
        a = z @ params[f"W_{j}"] + params[f"b_{j}"]
        z = f(a + state @ params["W_s"] if shortcut and j == depth - 1 else a)
    return z


def _structure(params: dict) -> tuple[int, bool]:
    """(depth, shortcut) read from the parameter keys."""
    depth = 1
    while isinstance(params, dict) and f"W_{depth}" in params:
        depth += 1
    return depth, isinstance(params, dict) and "W_s" in params


def _check_inputs(x, params, state0):
    """Validate x, params and state0; return T, N, H, the dtype, depth and shortcut."""
    depth, shortcut = _structure(params)
    if depth < 2:
        raise ValueError("params hold no W_1: a deep transition has depth >= 2 (W_1, b_1, ... beside W_x, W_h, b)")
    T, N, H, dtype = checks.sequence_inputs(x, params, lambda D, H: param_shapes(D, H, depth, shortcut))
    if state0 is not None:
        checks.float_array("state0", state0, (N, H), dtype)
    return T, N, H, dtype, depth, shortcut
