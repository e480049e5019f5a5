"""Leaky-unit RNN: every hidden unit i keeps a fraction α_i of its previous value (seed 001).

Forward, for t = 1..T (row vectors, ``x_t W_x`` is the seeds' ``W_xh x_t``)::

    a_t = x_t W_x + h_{t-1} W_h + b                     (pre-activation)
    u_t = f(a_t),   f = tanh | relu                     (the seeds' F(h_{t-1}, x_t))
    h_t = α ⊙ h_{t-1} + (1 - α) ⊙ u_t                   (leaky integration, α per unit)

α = 0 is the plain RNN of ``rnn.py``. α close to 1 makes a unit change slowly, and the direct path
h_{t-1} -> h_t contributes ``diag(α)`` to every Jacobian ∂h_t/∂h_{t-1}, so gradients decay like α^{t-k} at
worst instead of (β_W β_h)^{t-k}: the vanishing is still there, on a longer time scale.

α, fixed or learned:

- **learned**: ``params["a"]`` (H,) holds a logit and ``α = sigmoid(a)``, which keeps every α_i in (0, 1)
  whatever the optimizer does; ``grads["a"]`` is ∂L/∂a = ∂L/∂α ⊙ α (1 - α).
- **fixed**: ``params`` has no ``"a"`` and ``forward``/``step`` take ``alpha=`` (a float or an (H,) array
  in [0, 1]), a constant like ``activation``; it is not a parameter and gets no gradient.

``init`` draws the initial α_i from U(0.02, 0.2) as in seed 001 (``alpha_range``), and ``sample_alpha``
gives the same draw for the fixed form.

Backward (δ^{h_t} = ∂L_t/∂h_t + the gradient from the future)::

    δ^{u_t}     = (1 - α) ⊙ δ^{h_t}
    δ^{a_t}     = δ^{u_t} ⊙ f'(a_t)                     f'(a) = 1 - u_t²  |  [u_t > 0]
    δ^{h_{t-1}} = α ⊙ δ^{h_t} + δ^{a_t} W_hᵀ
    ∂L/∂α       = Σ_t Σ_n δ^{h_t} ⊙ (h_{t-1} - u_t)
    ∂L/∂W_x = Σ_t x_tᵀ δ^{a_t},   ∂L/∂W_h = Σ_t h_{t-1}ᵀ δ^{a_t},   ∂L/∂b = Σ_t δ^{a_t}

With a mask ``(T, N)`` a padded step carries the state through unchanged and outputs zeros.

Cache memory: 2·T·N·H floats (the states entering each step and u_t) plus the input.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.nn import checks, ops
from unroll.nn import init as init_

ALPHA_RANGE = (0.02, 0.2)


class LeakyCache(NamedTuple):
    x: np.ndarray            # (T, N, D) inputs
    h_prev: np.ndarray       # (T, N, H) state entering step t, h_{t-1}
    u: np.ndarray            # (T, N, H) f(a_t), the post-activation candidate of step t
    mask: np.ndarray | None  # (T, N, 1) 1.0 on real steps, or None
    params: dict             # the parameters used (read only)
    activation: str          # "tanh" | "relu"
    alpha: np.ndarray        # (H,) the leak α used
    learned: bool            # True when α = sigmoid(params["a"])


def sample_alpha(hidden_size: int, rng: np.random.Generator, low: float = ALPHA_RANGE[0],
                 high: float = ALPHA_RANGE[1], dtype=np.float32) -> np.ndarray:
    """α_i ~ U(low, high), one per unit (seed 001 samples from (0.02, 0.2)). Returns (H,)."""
    if not 0.0 <= low <= high < 1.0:
        raise ValueError(f"alpha range must satisfy 0 <= low <= high < 1, got ({low}, {high})")
    return rng.uniform(low, high, size=hidden_size).astype(dtype)


def init(input_size: int, hidden_size: int, rng: np.random.Generator, dtype=np.float32,
         learn_alpha: bool = True, alpha_range: tuple[float, float] = ALPHA_RANGE) -> dict:
    """Weights like ``rnn.init`` (uniform(-1/sqrt(H), 1/sqrt(H))); with ``learn_alpha`` also the logit of α.

    Returns {"W_x": (D, H), "W_h": (H, H), "b": (H,)} and, if learn_alpha, "a": (H,) = logit(α_0) with
    α_0 ~ U(alpha_range). For a fixed α, draw it with ``sample_alpha`` and pass it as ``alpha=``.
    """
    params = init_.draw_uniform(param_shapes(input_size, hidden_size, learn_alpha=False), hidden_size, rng, dtype)
    if learn_alpha:
        alpha0 = sample_alpha(hidden_size, rng, *alpha_range, dtype=np.float64)
        if np.any(alpha0 <= 0.0):
            raise ValueError("a learned alpha needs alpha_range inside (0, 1): sigmoid never reaches 0")
        params["a"] = np.log(alpha0 / (1.0 - alpha0)).astype(dtype)
    return params


def param_shapes(D: int | str, H: int | str, learn_alpha: bool = True, alpha_range=None) -> dict[str, tuple]:
    """The parameters' shapes (alpha_range, an init option, changes none of them)."""
    shapes = {"W_x": (D, H), "W_h": (H, H), "b": (H,)}
    return shapes | {"a": (H,)} if learn_alpha else shapes


def forward(x: np.ndarray, params: dict, state0: np.ndarray | None = None, mask=None, activation: str = "tanh",
            alpha=None):
    """Run the leaky RNN over a whole sequence.

    x: (T, N, D), state0: (N, H) or None (zeros), mask: (T, N) or None,
    alpha: None when params holds "a" (learned), else a float or (H,) array in [0, 1] (fixed)
    returns hs: (T, N, H), state: (N, H) the final state, cache: LeakyCache
    """
    T, N, H, dtype = _check_inputs(x, params, state0)
    al, learned = _alpha(params, alpha, H, dtype)
    m = checks.mask_array(mask, T, N, dtype)
    f, _ = ops.activation(activation)
    W_h, keep = params["W_h"], 1.0 - al
    xw = ops.linear_forward(x, params["W_x"], params["b"])  # (T, N, H): input side of a_t, all steps
    h = np.zeros((N, H), dtype) if state0 is None else state0
    h_prev = np.empty((T, N, H), dtype)
    u = np.empty((T, N, H), dtype)
    hs = np.empty((T, N, H), dtype)
    for t in range(T):
        h_prev[t] = h
        u[t] = f(xw[t] + h @ W_h)                              # u_t = f(x_t W_x + h_{t-1} W_h + b)
        hs[t] = al * h + keep * u[t]                           # h_t = α h_{t-1} + (1 - α) u_t
        h = hs[t] if m is None else np.where(m[t] > 0, hs[t], h)
    if m is not None:
        hs *= m
    return hs, h.copy(), LeakyCache(x, h_prev, u, m, params, activation, al, learned)


def backward(dhs: np.ndarray, cache: LeakyCache, dstate: np.ndarray | None = None):
    """Backpropagate through time.

    dhs: (T, N, H) gradient of the loss w.r.t. every output, dstate: (N, H) w.r.t. the final state
    returns dx: (T, N, D), dstate0: (N, H), grads: {"W_x", "W_h", "b"} and "a" when α is learned
    """
    x, h_prev, u, m, params, activation, al, learned = cache
    T, N, H = u.shape
    checks.float_array("dhs", dhs, (T, N, H), u.dtype)
    dh_next = np.zeros((N, H), u.dtype) if dstate is None else checks.float_array("dstate", dstate, (N, H), u.dtype)
    _, f_grad = ops.activation(activation)
    fprime = f_grad(u)                                         # f'(a_t) from the output, all steps at once
    W_h_T, keep = params["W_h"].T, 1.0 - al
    da = np.empty_like(u)
    dh_all = np.empty_like(u)                                  # δ^{h_t} reaching the new state, for ∂L/∂α
    for t in reversed(range(T)):
        if m is None:
            dh_all[t] = dhs[t] + dh_next                       # ∂L_t/∂h_t + δ^{h_t}
            da[t] = keep * dh_all[t] * fprime[t]               # δ^{a_t} = (1 - α) δ^{h_t} f'(a_t)
            dh_next = al * dh_all[t] + da[t] @ W_h_T           # δ^{h_{t-1}} = α δ^{h_t} + δ^{a_t} W_hᵀ
        else:  # a padded step passed the state through: state_t = m h_new_t + (1 - m) h_{t-1}
            dh_all[t] = m[t] * (dhs[t] + dh_next)
            da[t] = keep * dh_all[t] * fprime[t]
            dh_next = al * dh_all[t] + da[t] @ W_h_T + (1.0 - m[t]) * dh_next
    dx, dW_x, db = ops.linear_backward(da, x, params["W_x"])
    dW_h = h_prev.reshape(-1, H).T @ da.reshape(-1, H)
    grads = {"W_x": dW_x, "W_h": dW_h, "b": db}
    if learned:                                                # ∂L/∂a = Σ δ^{h_t} (h_{t-1} - u_t) · α (1 - α)
        dalpha = np.einsum("tnh,tnh->h", dh_all, h_prev - u)
        grads["a"] = (dalpha * al * keep).astype(u.dtype)
    return dx, dh_next, grads


def step(x_t: np.ndarray, params: dict, state: np.ndarray, activation: str = "tanh", alpha=None) -> np.ndarray:
    """One timestep, for decoding: x_t (N, D), state (N, H) -> new state (N, H)."""
    f, _ = ops.activation(activation)
    al, _ = _alpha(params, alpha, params["W_h"].shape[0], params["W_h"].dtype)
    return al * state + (1.0 - al) * f(x_t @ params["W_x"] + state @ params["W_h"] + params["b"])


def resolve_options(options: dict) -> dict:
    """Stack options of the leaky cell: a fixed ``alpha`` implies learn_alpha=False; without one α is learned."""
    learn = options.get("learn_alpha")
    if "alpha" in options:
        if learn:
            raise ValueError("leaky: give alpha (a fixed leak) or learn_alpha=True (a learned one), not both")
        alpha = np.asarray(options["alpha"], dtype=np.float64)
        if alpha.ndim > 1 or not np.all((alpha >= 0) & (alpha <= 1)):
            raise ValueError(f"alpha must lie in [0, 1] (a float or an (H,) array), got {options['alpha']!r}")
        return options | {"learn_alpha": False}
    if learn is False:
        raise ValueError("leaky: learn_alpha=False needs a fixed leak alpha (a float or (H,) array in [0, 1])")
    return options | {"learn_alpha": True}


def alpha_of(params: dict, alpha=None) -> np.ndarray:
    """The α a forward pass would use: sigmoid(params["a"]) or the fixed ``alpha``, as (H,)."""
    return _alpha(params, alpha, params["W_h"].shape[0], params["W_h"].dtype)[0]


def _alpha(params, alpha, H, dtype):
    """Resolve α to an (H,) array and whether it is learned."""
    if "a" in params:
        if alpha is not None:
            raise ValueError("alpha= is for a fixed leak; these params hold a learned one in params['a']")
        return ops.sigmoid(params["a"]), True
    if alpha is None:
        raise ValueError("leaky RNN needs its leak: params['a'] (learned, alpha = sigmoid(a)) or alpha= (fixed)")
    al = np.broadcast_to(np.asarray(alpha, dtype=dtype), (H,)) if np.ndim(alpha) == 0 else np.asarray(alpha)
    checks.float_array("alpha", al, (H,))
    if np.any(al < 0) or np.any(al > 1):
        raise ValueError(f"alpha must lie in [0, 1], got values in [{al.min()}, {al.max()}]")
    return al.astype(dtype, copy=False), False


def _check_inputs(x, params, state0):
    """Validate x, params and state0; return T, N, H and the dtype."""
    learned = isinstance(params, dict) and "a" in params
    T, N, H, dtype = checks.sequence_inputs(x, params, lambda D, H: param_shapes(D, H, learned))
    if state0 is not None:
        checks.float_array("state0", state0, (N, H), dtype)
    return T, N, H, dtype
