"""Gradient flow through time: how far back the loss reaches, Jacobian products, the seeds' bound, clipping,
and the saturation of gates.

Everything here drives a cell module (``rnn``, ``leaky``, ``skip``, ``lstm``, ``gru``, or any module with the
engine's ``forward``/``backward``) one step at a time, so the numbers come from the cell's own backward pass:

- ``state_gradients`` / ``loss_reach``: given ∂L/∂s_T, the gradient of the final state, the gradients
  ∂L/∂s_k for every k = T..0 by one-step vector-Jacobian products, s_k = the whole state ((h, c) for an
  LSTM, the window of the last d states for the skip RNN). ``loss_reach`` gives their norms by distance
  T - k: how far back the loss at the last step reaches.
- ``jacobian_products`` / ``jacobian_norms``: ∂s_t/∂s_k as matrices, ``J[i, j] = ∂s_{t,i} / ∂s_{k,j}``, for
  one example; built from the rows ∂s_{t,i}/∂s_k, i.e. S vector-Jacobian products in one batch of S
  copies (S the state size). For a linear RNN ``h_t = h_{t-1} W_h + x_t W_x`` (row vectors) the product is
  ``(W_hᵀ)^{t-k}``; for tanh, ``∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hᵀ``.
- ``seeds_bound``: ‖∂h_t/∂h_k‖₂ ≤ (β_W β_h)^{t-k} with β_W = σ_max(W_h) and β_h ≥ |f'| (1 for tanh and ReLU);
  for leaky units the one-step bound is max α + max(1 - α) β_W β_h.
- ``clipping_report``: per-parameter gradient norms before and after global-norm clipping (the rule of
  ``unroll.train.optim.clip_grad_norm``, computed without touching the gradients).
- ``gate_saturation``: for LSTM (i, f, o) and GRU (r, z) the fraction of real steps at which a gate is
  near 0 (< eps) or near 1 (> 1 - eps), from the forward cache.

Norms of gradients are Frobenius norms over the batch of the gradient of the (batch) loss; Jacobian norms
are spectral norms (largest singular value), one example at a time.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
SIGMOID_GATES = {"lstm": ("i", "f", "o"), "gru": ("r", "z")}


def cell_module(cell: str | ModuleType) -> ModuleType:
    """A cell module from its name ("rnn", "leaky", "skip", "lstm", "gru") or the module itself."""
    if isinstance(cell, ModuleType):
        return cell
    if cell not in ("rnn", "leaky", "skip", "lstm", "gru"):
        raise ValueError(f"cell must be one of rnn, leaky, skip, lstm, gru or a cell module, got {cell!r}")
    return importlib.import_module(f"unroll.nn.{cell}")


def cell_name(cell: str | ModuleType) -> str:
    return cell_module(cell).__name__.rsplit(".", 1)[-1]


def states(cell, params: dict, x: np.ndarray, state0=None, **options) -> list:
    """[s_0, s_1, ..., s_T]: the state before the first step and after each step. x: (T, N, D)."""
    module = cell_module(cell)
    s, out = state0, []
    for t in range(x.shape[0]):
        _, s_next, _ = module.forward(x[t:t + 1], params, s, None, **options)
        if s is None:
            s = _zeros_like(s_next)
        elif not isinstance(s, tuple) and s.ndim == 2 and s_next.ndim == 3:   # skip RNN: h_0 -> window
            s = np.concatenate([np.zeros_like(s_next[1:]), s[None]])
        out.append(s)
        s = s_next
    return out + [s]


def state_gradients(cell, params: dict, x: np.ndarray, dstate, state0=None, **options) -> list:
    """[∂L/∂s_0, ..., ∂L/∂s_T] when the loss depends on the sequence only through s_T, with ∂L/∂s_T = dstate.

    dstate has the state's layout ((N, H), a tuple (dh, dc) for an LSTM, (d, N, H) for the skip RNN).
    """
    module = cell_module(cell)
    ss = states(module, params, x, state0, **options)
    T, N = x.shape[0], x.shape[1]
    grads = [None] * (T + 1)
    grads[T] = dstate
    for t in reversed(range(T)):                               # δ_{t} = δ_{t+1} ∂s_{t+1}/∂s_t, via the cell's backward
        hs, _, cache = module.forward(x[t:t + 1], params, ss[t], None, **options)
        _, grads[t], _ = module.backward(np.zeros_like(hs), cache, grads[t + 1])
    return grads


def loss_reach(cell, params: dict, x: np.ndarray, dstate, state0=None, **options) -> dict:
    """‖∂L_T/∂h_k‖ for every k, by distance T - k (index 0 is k = T).

    returns {"distance": (T+1,), "h": (T+1,)} and, for an LSTM, "c": (T+1,) the cell-state part
    """
    grads = state_gradients(cell, params, x, dstate, state0, **options)[::-1]
    out = {"distance": np.arange(len(grads)), "h": np.array([np.linalg.norm(_h_part(g)) for g in grads])}
    if isinstance(grads[0], tuple):
        out["c"] = np.array([np.linalg.norm(g[1]) for g in grads])
    return out


def jacobian_products(cell, params: dict, x: np.ndarray, state0=None, example: int = 0, **options) -> list:
    """[∂s_T/∂s_k for k = 0..T] for one example, each (S, S) with J[i, j] = ∂s_{T,i}/∂s_{k,j}.

    S is the state size: H, 2H for an LSTM ([h; c]), d·H for the skip RNN (window, oldest first).
    """
    module = cell_module(cell)
    x1 = x[:, example:example + 1]
    s0 = None if state0 is None else _take(state0, example)
    ss = states(module, params, x1, s0, **options)
    S = _flatten(ss[-1]).shape[1]
    dtype = _flatten(ss[-1]).dtype
    P = np.eye(S, dtype=dtype)                                 # rows: ∂s_{T,i}/∂s_T
    out = [P]
    for t in reversed(range(x.shape[0])):
        xs = np.repeat(x1[t:t + 1], S, axis=1)                 # S copies of the example, one per row of P
        hs, _, cache = module.forward(xs, params, _repeat(ss[t], S), None, **options)
        _, d0, _ = module.backward(np.zeros_like(hs), cache, _unflatten(P, ss[t]))
        P = _flatten(d0)                                       # rows: ∂s_{T,i}/∂s_t
        out.append(P)
    return out[::-1]


def jacobian_norms(cell, params: dict, x: np.ndarray, state0=None, examples: int = 4, **options) -> dict:
    """‖∂s_T/∂s_k‖₂ against the distance T - k, for the first ``examples`` sequences of the batch.

    returns {"distance": (T+1,), "per_example": (E, T+1), "mean": (T+1,), "geometric_mean": (T+1,)}
    """
    E = min(examples, x.shape[1])
    rows = []
    for n in range(E):
        Ps = jacobian_products(cell, params, x, state0, n, **options)[::-1]
        rows.append([np.linalg.norm(P, 2) for P in Ps])
    per = np.array(rows)
    with np.errstate(divide="ignore"):
        geo = np.exp(np.mean(np.log(per), axis=0))
    return {"distance": np.arange(per.shape[1]), "per_example": per, "mean": per.mean(axis=0), "geometric_mean": geo}


def spectral_norm(W: np.ndarray) -> float:
    """The largest singular value σ_max(W) = ‖W‖₂."""
    return float(np.linalg.norm(W, 2))


def block_spectral_norms(W_h: np.ndarray) -> list[float]:
    """σ_max of each (H, H) gate block of a recurrent matrix (H, kH): one value for an RNN, 4 for an LSTM."""
    H = W_h.shape[0]
    return [spectral_norm(W_h[:, i * H:(i + 1) * H]) for i in range(W_h.shape[1] // H)]


def seeds_bound(params: dict, distances, beta_h: float = 1.0, alpha=None) -> np.ndarray:
    """(β_W β_h)^{t-k} with β_W = σ_max(W_h); with a leak α (an (H,) array or ``params["a"]``), the one-step
    factor is max α + max(1 - α) β_W β_h, since ∂h_t/∂h_{t-1} = diag(α) + diag((1 - α) f') W_hᵀ.
    """
    beta = spectral_norm(params["W_h"]) * beta_h
    if alpha is None and "a" in params:
        alpha = 1.0 / (1.0 + np.exp(-np.asarray(params["a"], dtype=np.float64)))
    if alpha is not None:
        alpha = np.asarray(alpha, dtype=np.float64)
        beta = float(alpha.max() + (1.0 - alpha).max() * beta)
    return beta ** np.asarray(distances, dtype=np.float64)


def clipping_report(grads: dict, max_norm: float | None) -> dict:
    """Gradient norms per parameter before and after clipping the global norm to ``max_norm`` (None: no clip).

    returns {"total_before", "total_after", "scale", "params": {name: {"before", "after"}}}; the rule is
    ``clip_grad_norm``'s: scale = max_norm / (total + 1e-6) when that is below 1.
    """
    before = {k: float(np.linalg.norm(g)) for k, g in grads.items()}
    total = float(np.sqrt(sum(v * v for v in before.values())))
    scale = 1.0
    if max_norm is not None and np.isfinite(total):
        scale = min(1.0, max_norm / (total + 1e-6))
    return {"total_before": total, "total_after": total * scale, "scale": scale,
            "params": {k: {"before": v, "after": v * scale} for k, v in before.items()}}


def gate_saturation(cell, params: dict, x: np.ndarray, state0=None, mask=None, eps: float = 0.1) -> dict:
    """Fraction of real (step, sequence, unit) entries at which each sigmoid gate is < eps or > 1 - eps.

    returns {gate: {"near_0", "near_1", "mean"}} for LSTM gates i, f, o and GRU gates r, z
    """
    name = cell_name(cell)
    if name not in SIGMOID_GATES:
        raise ValueError(f"gate saturation is defined for lstm and gru, got {name!r}")
    module = cell_module(cell)
    _, _, cache = module.forward(x, params, state0, mask)
    gates = cache.gates                                        # (T, N, kH) post-activation, blocks in GATES order
    H = gates.shape[2] // len(GATES[name])
    weight = np.ones(gates.shape[:2]) if mask is None else np.asarray(mask, dtype=np.float64)
    count = weight.sum() * H
    out = {}
    for g in SIGMOID_GATES[name]:
        i = GATES[name].index(g)
        v = gates[:, :, i * H:(i + 1) * H]
        w = weight[:, :, None]
        out[g] = {"near_0": float(((v < eps) * w).sum() / count), "near_1": float(((v > 1 - eps) * w).sum() / count),
                  "mean": float((v * w).sum() / count)}
    return out


# ----------------------------------------------------------------------------------------------------
# State layouts: (N, H) | (h, c) | (d, N, H) window.

def _h_part(s):
    """The hidden state h_k inside a state: h of (h, c), the newest row of a window, or s itself."""
    if isinstance(s, tuple):
        return s[0]
    return s[-1] if s.ndim == 3 else s


def _zeros_like(s):
    return tuple(np.zeros_like(a) for a in s) if isinstance(s, tuple) else np.zeros_like(s)


def _take(s, n):
    if isinstance(s, tuple):
        return tuple(a[n:n + 1] for a in s)
    return s[:, n:n + 1] if s.ndim == 3 else s[n:n + 1]


def _repeat(s, S):
    if isinstance(s, tuple):
        return tuple(np.repeat(a, S, axis=0) for a in s)
    return np.repeat(s, S, axis=1 if s.ndim == 3 else 0)


def _flatten(s) -> np.ndarray:
    """A state of N examples -> (N, S): [h | c] for a tuple, the window's rows side by side."""
    if isinstance(s, tuple):
        return np.concatenate(s, axis=1)
    return np.concatenate(list(s), axis=1) if s.ndim == 3 else s


def _unflatten(flat: np.ndarray, like):
    """Inverse of ``_flatten`` with the layout of ``like``."""
    if isinstance(like, tuple):
        return tuple(np.ascontiguousarray(a) for a in np.split(flat, len(like), axis=1))
    if like.ndim == 3:
        return np.ascontiguousarray(np.stack(np.split(flat, like.shape[0], axis=1)))
    return np.ascontiguousarray(flat)


__all__ = ["cell_module", "states", "state_gradients", "loss_reach", "jacobian_products", "jacobian_norms",
           "spectral_norm", "block_spectral_norms", "seeds_bound", "clipping_report", "gate_saturation"]
