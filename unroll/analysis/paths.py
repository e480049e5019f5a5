"""The shortest path through time, measured: how many weight matrices a gradient must cross from the state
at step t - k to the output at step t (seed 004: a deeper transition lengthens the shortest path; skip
connections shorten it).

The measurement makes every unit linear and sets every square weight matrix (H, H) to ε·I, every bias and
input weight to 0. Then ∂output_t/∂h_{t-k} is a sum over paths of ε^{(matrices on the path)}·I, and as ε -> 0
its norm is of order ε^{shortest path}. Two values of ε give the order as a slope::

    path length ≈ log(‖J(ε₁)‖ / ‖J(ε₂)‖) / log(ε₁ / ε₂),    J = ∂(Σ output_t)/∂h_{t-k}

Expected, for k steps: rnn k; deep_transition of depth L, L·k, and k with the shortcut; skip with delay d,
⌊k/d⌋ + (k mod d); skip with only_skip, k/d when d divides k (else the output does not depend on h_{t-k}:
inf); deep_output of depth K, k + K (the output MLP is crossed once, not at every step). A leaky unit has a
path with no matrix at all (α h_{t-1}), so its length is 0: the reason leaky units carry gradients far.
"""

from __future__ import annotations

import math

import numpy as np

from unroll.nn.stack import Stack


def path_norm(cell: str, k: int, eps: float, hidden_size: int = 3, cell_options: dict | None = None) -> float:
    """‖∂(Σ output_k)/∂h_0‖ for one layer of ``cell`` with linear units and every (H, H) matrix ε·I."""
    H = hidden_size
    stack = Stack(cell, H, H, 1, activation="identity", cell_options=cell_options)
    params = {}
    for name, value in stack.init(np.random.default_rng(0), np.float64).items():
        if value.ndim == 2 and value.shape == (H, H) and not name.endswith(".W_x"):
            params[name] = eps * np.eye(H)
        else:                                                  # biases, input weights -> 0; a leak logit kept
            params[name] = value if name.endswith(".a") else np.zeros_like(value)
    state0 = stack.zero_state(1, np.float64)
    h0 = np.random.default_rng(1).standard_normal(H)
    if state0.ndim == 4:                                       # a window: h_0 is its last row
        state0[0, -1, 0] = h0
    else:
        state0[0, 0] = h0
    outputs, _, cache = stack.forward(np.zeros((k, 1, H)), params, state0)
    upstream = np.zeros_like(outputs)
    upstream[-1] = 1.0                                         # the loss reads output_k only
    _, dstate0, _ = stack.backward(upstream, cache)
    d_h0 = dstate0[0, -1, 0] if dstate0.ndim == 4 else dstate0[0, 0]
    return float(np.linalg.norm(d_h0))


def shortest_path_length(cell: str, k: int, cell_options: dict | None = None,
                         eps: tuple[float, float] = (1e-4, 1e-5)) -> float:
    """The number of weight matrices on the shortest path from h_{t-k} to the output at t (see above);
    ``inf`` when there is no path."""
    n1, n2 = (path_norm(cell, k, e, cell_options=cell_options) for e in eps)
    if n1 == 0.0 or n2 == 0.0:
        return math.inf
    return math.log(n1 / n2) / math.log(eps[0] / eps[1])


def path_table(k_values=(1, 2, 4, 8)) -> dict[str, list[float]]:
    """Measured shortest-path lengths by k for the seed's comparison (None: no path), one row per variant."""
    cells = {"rnn": ("rnn", {}), "deep_transition(L=3)": ("deep_transition", {"depth": 3}),
             "deep_transition(L=3, shortcut)": ("deep_transition", {"depth": 3, "shortcut": True}),
             "deep_output(K=2)": ("deep_output", {"depth": 2}), "skip(d=4)": ("skip", {"d": 4}),
             "skip(d=4, only)": ("skip", {"d": 4, "only_skip": True}), "leaky(alpha=0.5)": ("leaky", {"alpha": 0.5})}
    length = lambda cell, k, opts: shortest_path_length(cell, k, opts)  # noqa: E731
    return {label: [None if math.isinf(v := length(cell, k, opts)) else round(v, 3) for k in k_values]
            for label, (cell, opts) in cells.items()}
