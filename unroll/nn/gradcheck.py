"""Centred-difference gradient checking in float64.

A backward pass is checked by contracting the forward's outputs with a fixed random upstream gradient
G, which turns any forward into a scalar loss ``L = Σ outputs ⊙ G``; the analytic gradient of L is the
backward pass fed with G. Each element of each checked array is perturbed by ±eps and

    numeric = (L(θ + eps) - L(θ - eps)) / (2 eps)

The score per tensor is the relative error ‖numeric - analytic‖ / max(‖numeric‖ + ‖analytic‖, 1e-30)
(norms over the whole tensor), so a tensor whose gradient is exactly zero on both sides scores 0.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def numeric_gradient(loss: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d loss() / d array by centred differences, perturbing ``array`` in place and restoring it.

    array must be float64 (float32 differences are too coarse to check anything).
    """
    if array.dtype != np.float64:
        raise ValueError(f"array must be float64 for a gradient check, got {array.dtype}")
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        up = loss()
        flat[i] = original - eps
        down = loss()
        flat[i] = original
        gflat[i] = (up - down) / (2.0 * eps)
    return grad


def relative_error(numeric: np.ndarray, analytic: np.ndarray) -> float:
    """‖numeric - analytic‖ / max(‖numeric‖ + ‖analytic‖, 1e-30)."""
    if numeric.shape != analytic.shape:
        raise ValueError(f"analytic gradient has shape {analytic.shape}, expected {numeric.shape}")
    denom = max(np.linalg.norm(numeric) + np.linalg.norm(analytic), 1e-30)
    return float(np.linalg.norm(numeric - analytic) / denom)


def check(loss: Callable[[], float], arrays: dict[str, np.ndarray], analytic: dict[str, np.ndarray],
          eps: float = 1e-6) -> dict[str, float]:
    """Relative error of every analytic gradient against centred differences.

    arrays: name -> float64 array that ``loss`` reads (perturbed in place, restored afterwards)
    analytic: name -> gradient of the same shape
    returns name -> relative error
    """
    missing = [k for k in arrays if k not in analytic]
    if missing:
        raise ValueError(f"analytic is missing gradients for {', '.join(missing)}")
    return {name: relative_error(numeric_gradient(loss, arr, eps), analytic[name]) for name, arr in arrays.items()}


def upstream(shape_or_tree, rng: np.random.Generator):
    """Random float64 upstream gradients with the structure of ``shape_or_tree`` (an array or a tuple)."""
    if isinstance(shape_or_tree, tuple) and shape_or_tree and isinstance(shape_or_tree[0], np.ndarray):
        return tuple(rng.standard_normal(a.shape) for a in shape_or_tree)
    return rng.standard_normal(np.shape(shape_or_tree))


def contract(outputs, weights) -> float:
    """Σ outputs ⊙ weights over arrays or matching tuples of arrays."""
    if isinstance(outputs, tuple):
        return float(sum(np.sum(o * w) for o, w in zip(outputs, weights)))
    return float(np.sum(outputs * weights))


# Every cell ``unroll gradcheck`` covers: (label, Stack cell name, activation, cell_options).
CASES = (
    ("rnn(tanh)", "rnn", "tanh", {}), ("rnn(relu)", "rnn", "relu", {}),
    ("rnn(sigmoid)", "rnn", "sigmoid", {}), ("rnn(identity)", "rnn", "identity", {}),
    ("lstm", "lstm", "tanh", {}), ("gru", "gru", "tanh", {}),
    ("leaky(alpha=0.5)", "leaky", "tanh", {"alpha": 0.5}), ("leaky(learned)", "leaky", "tanh", {}),
    ("skip(d=2)", "skip", "tanh", {"d": 2}), ("skip(d=2,only)", "skip", "tanh", {"d": 2, "only_skip": True}),
    ("deep_transition(2)", "deep_transition", "tanh", {"depth": 2}),
    ("deep_transition(3,S)", "deep_transition", "tanh", {"depth": 3, "shortcut": True}),
    ("deep_output(2)", "deep_output", "tanh", {"depth": 2}),
)


def report(seed: int = 0) -> list[tuple[str, str, float]]:
    """Check every cell of ``CASES`` in stacks; return rows (case, tensor, relative error).

    Each cell as a single layer with a mask, a 2-layer stack and a 1-layer bidirectional stack with a
    mask, on tiny float64 problems (T=4, N=2, D=3, H=3).
    """
    from unroll.nn.stack import Stack  # stack imports this module's neighbours; keep the import local

    rng = np.random.default_rng(seed)
    T, N, D, H = 4, 2, 3, 3
    mask = np.array([[1, 1], [1, 1], [1, 0], [1, 0]])
    cases = []
    for label, cell, activation, options in CASES:
        make = lambda layers, bi: Stack(cell, D, H, layers, bidirectional=bi, activation=activation,  # noqa: E731
                                        cell_options=options)
        cases += [(f"{label} masked", make(1, False), mask), (f"{label} 2 layers", make(2, False), None),
                  (f"{label} bidirectional", make(1, True), mask)]
    rows = []
    for name, stack, case_mask in cases:
        errors = check_stack(stack, case_mask, T, N, D, rng)
        rows.extend((name, tensor, err) for tensor, err in errors.items())
    return rows


def check_stack(stack, mask, T, N, D, rng) -> dict[str, float]:
    """Relative error of every gradient of a Stack (x, state0, every parameter) on a random float64 problem.

    mask: (T, N) or None; rng draws the parameters, x (T, N, D), state0 and the upstream gradients.
    """
    params = stack.init(rng, np.float64)
    x = rng.standard_normal((T, N, D))
    state0 = upstream(stack.zero_state(N, np.float64), rng)   # a random initial state of the right layout
    hs, stateT, cache = stack.forward(x, params, state0, mask)
    G, GT = upstream(hs, rng), upstream(stateT, rng)

    def loss():
        out, final, _ = stack.forward(x, params, state0, mask)
        return contract(out, G) + contract(final, GT)

    dx, dstate0, grads = stack.backward(G, cache, GT)
    arrays, analytic = {"x": x, **params}, {"x": dx, **grads}
    states = state0 if isinstance(state0, tuple) else (state0,)
    dstates = dstate0 if isinstance(dstate0, tuple) else (dstate0,)
    for i, (s, ds) in enumerate(zip(states, dstates)):
        arrays[f"state0[{i}]"], analytic[f"state0[{i}]"] = s, ds
    return check(loss, arrays, analytic)
