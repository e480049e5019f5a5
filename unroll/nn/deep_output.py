"""Deep-output RNN: an MLP of ``depth`` layers between h_t and the output (seed 004, "introduce depth" in the
hidden-to-output block; Pascanu et al. 2014, DO-RNN).

Forward, for t = 1..T (row vectors), K = depth >= 1::

    h_t = f(x_t W_x + h_{t-1} W_h + b)                 the plain RNN of ``rnn.py`` (the state)
    o⁰_t = h_t,    oʲ_t = f(oʲ⁻¹_t V_j + c_j)   j = 1 .. K
    output_t = o^K_t                                   (what the next layer, or the model's readout, reads)

The recurrence is the RNN's, so the shortest path through time from h_{t-k} to h_t is still k steps; the
output MLP adds K layers between the state and what is predicted from it, once, not at every step (compare
``deep_transition.py``, whose depth multiplies the path through time). As the top layer of a one-layer stack
under the language model's softmax readout it is exactly the DO-RNN.

Backward: the MLP runs outside the time loop (it does not feed back), so its backward is one pass over
all T·N rows; its input gradient is the ∂L_t/∂h_t the RNN's BPTT starts from::

    δ^{aʲ} = δ^{oʲ} ⊙ f'(aʲ) (from the output oʲ),   δ^{oʲ⁻¹} = δ^{aʲ} V_jᵀ,
    ∂L/∂V_j = Σ_t oʲ⁻¹_tᵀ δ^{aʲ_t},   ∂L/∂c_j = Σ_t δ^{aʲ_t},   then rnn.backward(δ^{o⁰}, ...)

Parameters: W_x (D, H), W_h (H, H), b (H,), V_1..V_K (H, H), c_1..c_K (H,). The state is h_t (N, H); the
output differs from it, so ``output(state, params)`` gives a step's output for ``Stack.step``. With a mask
``(T, N)`` padded steps carry the state and output zeros. Cache memory: the RNN's plus K·T·N·H floats.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.nn import checks, ops, rnn
from unroll.nn import init as init_

DEFAULT_DEPTH = 1


class DeepOutputCache(NamedTuple):
    rnn_cache: rnn.RNNCache  # the recurrence's cache
    o: list                  # [o⁰ .. o^K], each (T, N, H); o⁰ = h_t (masked), o^K the output (unmasked)
    mask: np.ndarray | None  # (T, N, 1) 1.0 on real steps, or None
    params: dict             # the parameters used (read only)
    activation: str          # a name in ops.ACTIVATIONS


def param_shapes(D: int | str, H: int | str, depth: int = DEFAULT_DEPTH) -> dict:
    shapes = rnn.param_shapes(D, H)
    for j in range(1, depth + 1):
        shapes |= {f"V_{j}": (H, H), f"c_{j}": (H,)}
    return shapes


def init(input_size: int, hidden_size: int, rng: np.random.Generator, dtype=np.float32,
         depth: int = DEFAULT_DEPTH) -> dict:
    """Uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter, like ``rnn.init``. Shapes: ``param_shapes``."""
    resolve_options({"depth": depth})
    return init_.draw_uniform(param_shapes(input_size, hidden_size, depth), hidden_size, rng, dtype)


def resolve_options(options: dict) -> dict:
    """Stack options with their defaults: depth (``DEFAULT_DEPTH``) >= 1."""
    options = {"depth": DEFAULT_DEPTH} | options
    depth = options["depth"]
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth (layers in the output MLP) must be an integer >= 1, got {depth!r}")
    return options


def forward(x: np.ndarray, params: dict, state0: np.ndarray | None = None, mask=None, activation: str = "tanh"):
    """Run the RNN over a whole sequence and the output MLP over every step.

    x: (T, N, D), state0: (N, H) or None (zeros), mask: (T, N) or None
    returns outputs: (T, N, H), state: (N, H) the final h, cache: DeepOutputCache
    """
    depth = _check_params(params)
    hs, state, rnn_cache = rnn.forward(x, _rnn_params(params), state0, mask, activation)
    o = [hs]
    for j in range(1, depth + 1):
        o.append(_layer(o[-1], params, j, activation))
    m = rnn_cache.mask
    return (o[-1] if m is None else o[-1] * m), state, DeepOutputCache(rnn_cache, o, m, params, activation)


def backward(douts: np.ndarray, cache: DeepOutputCache, dstate: np.ndarray | None = None):
    """Backpropagate through the output MLP, then through time.

    douts: (T, N, H) gradient w.r.t. every output, dstate: (N, H) w.r.t. the final state, or None
    returns dx: (T, N, D), dstate0: (N, H), grads: the keys of params
    """
    rnn_cache, o, m, params, activation = cache
    checks.float_array("douts", douts, o[0].shape, o[0].dtype)
    _, f_grad = ops.activation(activation)
    g = douts if m is None else douts * m                      # output_t = o^K_t ⊙ mask
    grads = {}
    for j in reversed(range(1, len(o))):
        da = g * f_grad(o[j])                                  # δ^{aʲ} = δ^{oʲ} ⊙ f'(aʲ)
        g, grads[f"V_{j}"], grads[f"c_{j}"] = ops.linear_backward(da, o[j - 1], params[f"V_{j}"])
    dx, dstate0, rnn_grads = rnn.backward(g, rnn_cache, dstate)   # δ^{o⁰} = ∂L/∂h_t from the outputs
    ordered = rnn_grads | grads
    return dx, dstate0, {k: ordered[k] for k in param_shapes("D", "H", len(o) - 1)}


def step(x_t: np.ndarray, params: dict, state: np.ndarray, activation: str = "tanh") -> np.ndarray:
    """One timestep of the recurrence: x_t (N, D), state (N, H) -> new state h_t (N, H); see ``output``."""
    return rnn.step(x_t, _rnn_params(params), state, activation)


def output(state: np.ndarray, params: dict, activation: str = "tanh") -> np.ndarray:
    """A step's output from its state: h_t (N, H) -> o^K_t (N, H)."""
    o = state
    for j in range(1, _check_params(params) + 1):
        o = _layer(o, params, j, activation)
    return o


def _layer(o: np.ndarray, params: dict, j: int, activation: str) -> np.ndarray:
    """oʲ = f(oʲ⁻¹ V_j + c_j) over every leading index."""
    f, _ = ops.activation(activation)
    return f(ops.linear_forward(o, params[f"V_{j}"], params[f"c_{j}"]))


def _rnn_params(params: dict) -> dict:
    return {k: params[k] for k in ("W_x", "W_h", "b") if k in params}


def _check_params(params: dict) -> int:
    """The output depth K read from the keys (V_1 .. V_K); the RNN checks the rest."""
    depth = 0
    while isinstance(params, dict) and f"V_{depth + 1}" in params:
        depth += 1
    if depth < 1:
        raise ValueError("params hold no V_1: a deep output has depth >= 1 (V_1, c_1, ... beside W_x, W_h, b)")
    H = params["W_h"].shape[0] if "W_h" in params else "H"
    checks.params_of("params", params, {k: v for k, v in param_shapes("D", H, depth).items() if k != "W_x"})
    return depth
