"""RNN with a skip connection through time: a second recurrence from h_{t-d} beside the one from h_{t-1}.

Forward, for t = 1..T (row vectors, as in ``rnn.py``)::

    a_t = x_t W_x + h_{t-1} W_h + h_{t-d} W_skip + b
    h_t = f(a_t),   f = tanh | relu | sigmoid | identity

**Only skip connections** (``only_skip=True``, seed 001's "remove connections": remove the length-one
connections and replace them with longer ones): the params have no ``W_h`` and ``a_t = x_t W_x + h_{t-d} W_skip
+ b``. Then h_t reads only h_{t-d}: the sequence splits into d interleaved chains, and a gradient from step t
to step k crosses exactly (t - k) / d Jacobians (it cannot reach the k with d ∤ t - k through the states).
``forward``/``backward``/``step`` see which form they have from whether ``params`` holds ``W_h``.

The delay ``d >= 1`` is a constant (like ``activation``). Along the skip path a gradient crosses only
⌈(t - k) / d⌉ Jacobians instead of t - k, so it vanishes (or explodes) d times more slowly in t - k
(seed 001, "adding skip connections through time").

State: the step needs the last d states, so the state is a window ``(d, N, H)``, oldest first:
``state[0] = h_{t-d+1}``, ..., ``state[-1] = h_t``. ``state0`` may be None (zeros), a window ``(d, N, H)``
(exact continuation of an earlier call), or one state ``(N, H)`` taken as h_0 with h_{1-d}..h_{-1} = 0.
``forward`` returns the final window ``(d, N, H)``; ``backward`` returns ``dstate0`` with the shape
``state0`` had (``(d, N, H)`` when it was None).

Backward: with all states on one timeline ``hh`` (``hh[d-1+j] = h_j`` for j = 1-d..T) and g_j the gradient
reaching h_j, processed for t = T..1::

    δ^{a_t} = g_t ⊙ f'(a_t)                               f'(a) = 1 - h_t²  |  [h_t > 0]
    g_{t-1} += δ^{a_t} W_hᵀ (when W_h exists),      g_{t-d} += δ^{a_t} W_skipᵀ
    ∂L/∂W_x = Σ_t x_tᵀ δ^{a_t},  ∂L/∂W_h = Σ_t h_{t-1}ᵀ δ^{a_t},  ∂L/∂W_skip = Σ_t h_{t-d}ᵀ δ^{a_t},  ∂L/∂b = Σ_t δ^{a_t}

Masks ``(T, N)`` have their real steps first (``checks.mask_array``), so no real step follows a padded
one: padded steps output zeros and the final window of sequence n is its own last d states (reaching
back into state0 when its length is below d).

Cache memory: (T + d)·N·H floats (the timeline of states) plus the input.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.nn import checks, ops
from unroll.nn import init as init_

DEFAULT_D = 2


class SkipCache(NamedTuple):
    x: np.ndarray            # (T, N, D) inputs
    hh: np.ndarray           # (d + T, N, H) timeline: hh[d-1+j] = h_j, j = 1-d..T (h_j post-activation)
    mask: np.ndarray | None  # (T, N, 1) 1.0 on real steps, or None
    lengths: np.ndarray      # (N,) real steps per sequence
    params: dict             # the parameters used (read only)
    activation: str          # "tanh" | "relu"
    d: int                   # the delay of the skip connection
    state0_ndim: int         # 2 if state0 was one state (N, H), else 3


def init(input_size: int, hidden_size: int, rng: np.random.Generator, dtype=np.float32,
         only_skip: bool = False) -> dict:
    """Uniform(-1/sqrt(H), 1/sqrt(H)) like ``rnn.init``, with W_h and W_skip scaled by 1/sqrt(2) so that the
    two recurrent products together have the variance of one (W_skip unscaled and no W_h with ``only_skip``).

    Returns {"W_x": (D, H), "W_h": (H, H), "W_skip": (H, H), "b": (H,)}, without "W_h" if only_skip.
    """
    half = 1.0 if only_skip else np.sqrt(0.5)
    return init_.draw_uniform(param_shapes(input_size, hidden_size, only_skip), hidden_size, rng, dtype,
                              scales={"W_h": half, "W_skip": half})


def param_shapes(D: int | str, H: int | str, only_skip: bool = False) -> dict[str, tuple]:
    shapes = {"W_x": (D, H), "W_h": (H, H), "W_skip": (H, H), "b": (H,)}
    return {k: v for k, v in shapes.items() if k != "W_h"} if only_skip else shapes


def resolve_options(options: dict) -> dict:
    """Stack options of the skip cell with their defaults: d (the delay, ``DEFAULT_D``), only_skip (False)."""
    options = {"d": DEFAULT_D, "only_skip": False} | options
    _check_delay(options["d"])
    if not isinstance(options["only_skip"], (bool, np.bool_)):
        raise ValueError(f"only_skip must be True or False, got {options['only_skip']!r}")
    return options


def forward(x: np.ndarray, params: dict, state0: np.ndarray | None = None, mask=None, activation: str = "tanh",
            d: int = 2):
    """Run the skip RNN over a whole sequence.

    x: (T, N, D), state0: None, (N, H) or (d, N, H), mask: (T, N) or None, d: the delay (>= 1)
    returns hs: (T, N, H), state: (d, N, H) the last d states, cache: SkipCache
    """
    T, N, H, dtype = _check_inputs(x, params, state0, d)
    m = checks.mask_array(mask, T, N, dtype)
    f, _ = ops.activation(activation)
    W_h, W_skip = params.get("W_h"), params["W_skip"]
    xw = ops.linear_forward(x, params["W_x"], params["b"])  # (T, N, H): input side of a_t, all steps
    hh = np.zeros((d + T, N, H), dtype)
    if state0 is not None:
        hh[d - 1 if state0.ndim == 2 else 0:d] = state0
    for t in range(T):                                         # step t + 1: h_{t} at hh[d-1+t], h_{t+1-d} at hh[t]
        a = xw[t] + hh[t] @ W_skip                             # x_t W_x + b + h_{t-d} W_skip
        if W_h is not None:
            a += hh[d - 1 + t] @ W_h                           #   + h_{t-1} W_h
        hh[d + t] = f(a)
    lengths = np.full(N, T) if m is None else m[:, :, 0].sum(axis=0).astype(np.int64)
    hs = hh[d:] if m is None else hh[d:] * m
    window = hh[lengths[None, :] + np.arange(d)[:, None], np.arange(N)[None, :]]   # (d, N, H)
    ndim = 3 if state0 is None else state0.ndim
    return hs, window, SkipCache(x, hh, m, lengths, params, activation, d, ndim)


def backward(dhs: np.ndarray, cache: SkipCache, dstate: np.ndarray | None = None):
    """Backpropagate through time.

    dhs: (T, N, H) gradient w.r.t. every output, dstate: (d, N, H) w.r.t. the final window, or None
    returns dx: (T, N, D), dstate0: (N, H) or (d, N, H) like state0, grads: {"W_x", "W_h", "W_skip", "b"}
    """
    x, hh, m, lengths, params, activation, d, ndim = cache
    T, N, H = hh.shape[0] - d, hh.shape[1], hh.shape[2]
    checks.float_array("dhs", dhs, (T, N, H), hh.dtype)
    g = np.zeros_like(hh)                                      # g[d-1+j] = gradient reaching h_j
    g[d:] = dhs if m is None else dhs * m                      # outputs: hs = h_t (⊙ mask)
    if dstate is not None:                                     # window = hh[lengths + i] for i < d
        checks.float_array("dstate", dstate, (d, N, H), hh.dtype)
        np.add.at(g, (lengths[None, :] + np.arange(d)[:, None], np.arange(N)[None, :]), dstate)
    _, f_grad = ops.activation(activation)
    has_h = "W_h" in params
    W_h_T, W_skip_T = params["W_h"].T if has_h else None, params["W_skip"].T
    da = np.empty((T, N, H), hh.dtype)
    for t in reversed(range(T)):
        da[t] = g[d + t] * f_grad(hh[d + t])                   # δ^{a_t} = g_t ⊙ f'(a_t)
        if has_h:
            g[d - 1 + t] += da[t] @ W_h_T                      # into h_{t-1} through W_h
        g[t] += da[t] @ W_skip_T                               # into h_{t-d} through W_skip
    dx, dW_x, db = ops.linear_backward(da, x, params["W_x"])
    da2 = da.reshape(-1, H)
    grads = {"W_x": dW_x}
    if has_h:
        grads["W_h"] = hh[d - 1:d - 1 + T].reshape(-1, H).T @ da2
    grads |= {"W_skip": hh[:T].reshape(-1, H).T @ da2, "b": db}
    dstate0 = g[d - 1].copy() if ndim == 2 else g[:d].copy()
    return dx, dstate0, grads


def step(x_t: np.ndarray, params: dict, state: np.ndarray, activation: str = "tanh", d: int | None = None) -> np.ndarray:
    """One timestep, for decoding: x_t (N, D), state (d, N, H) the window -> the next window (d, N, H).

    d, if given, must equal the window's length (it is accepted so that callers pass one set of options).
    """
    if d is not None and (state.ndim != 3 or state.shape[0] != d):
        raise ValueError(f"state must be the window of the last d = {d} states (d, N, H), got shape {state.shape}")
    f, _ = ops.activation(activation)
    a = x_t @ params["W_x"] + state[0] @ params["W_skip"] + params["b"]
    if "W_h" in params:
        a += state[-1] @ params["W_h"]
    h = f(a)
    return np.concatenate([state[1:], h[None]], axis=0)


def _check_inputs(x, params, state0, d):
    """Validate x, params, state0 and d; return T, N, H and the dtype."""
    _check_delay(d)
    only_skip = isinstance(params, dict) and "W_h" not in params
    T, N, H, dtype = checks.sequence_inputs(x, params, lambda D, H: param_shapes(D, H, only_skip), "W_skip")
    if state0 is not None:
        if isinstance(state0, np.ndarray) and state0.ndim == 2:
            checks.float_array("state0", state0, (N, H), dtype)
        else:
            checks.float_array("state0", state0, (d, N, H), dtype)
    return T, N, H, dtype


def _check_delay(d) -> None:
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
        raise ValueError(f"d (the skip delay) must be an integer >= 1, got {d!r}")
