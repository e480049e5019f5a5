"""Building blocks around the recurrent cells: activations, linear over time, embedding, softmax
cross-entropy with a mask, and inverted dropout.

Every op is a pure forward/backward pair. Time-major shapes: ``T`` steps, ``N`` sequences, ``D`` input
features, ``H`` hidden units, ``V`` vocabulary entries, ``E`` embedding width. Derivatives of activations
are taken from their outputs (``1 - y**2`` for tanh, ``y * (1 - y)`` for the sigmoid), so caches store
post-activation values only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.nn import checks, kernels
from unroll.nn.kernels import split


# ----------------------------------------------------------------------------------------------------
# Activations: forward, and derivative expressed through the forward's output y.

def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic sigmoid, computed as 0.5 * (1 + tanh(a / 2)), which never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def sigmoid_grad_from_output(y: np.ndarray) -> np.ndarray:
    """d sigmoid(a) / da = y * (1 - y)."""
    return y * (1.0 - y)


def tanh_grad_from_output(y: np.ndarray) -> np.ndarray:
    """d tanh(a) / da = 1 - y**2."""
    return 1.0 - y * y


def relu(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, 0.0)


def relu_grad_from_output(y: np.ndarray) -> np.ndarray:
    """d relu(a) / da = 1 where the output is positive (the subgradient 0 is taken at a = 0)."""
    return (y > 0).astype(y.dtype)


def identity(a: np.ndarray) -> np.ndarray:
    """The linear unit f(a) = a (returns a itself, not a copy)."""
    return a


def identity_grad_from_output(y: np.ndarray) -> np.ndarray:
    """d a / da = 1."""
    return np.ones_like(y)


# The hidden-state nonlinearities a cell can take, by name: (forward, derivative from the output).
# Seed 003 compares the derivatives: sigmoid' <= 1/4, tanh' <= 1, relu' = 1 on active units.
ACTIVATIONS = {
    "tanh": (np.tanh, tanh_grad_from_output),
    "relu": (relu, relu_grad_from_output),
    "sigmoid": (sigmoid, sigmoid_grad_from_output),
    "identity": (identity, identity_grad_from_output),
}


def activation(name: str):
    """Return the (forward, derivative-from-output) pair of a hidden-state nonlinearity."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


# ----------------------------------------------------------------------------------------------------
# Linear over time: all T*N rows in one matrix product (under UNROLL_SPLIT=own, k blocks of it on unroll's
# threads at one BLAS thread each: kernels/split.py's matmul).

def linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """y = x W + b over every leading index.

    x: (..., D), W: (D, K), b: (K,) or None  ->  y: (..., K)
    """
    lead = x.shape[:-1]
    y = split.matmul(x.reshape(-1, x.shape[-1]), W, b)         # x W, then += b (per block under "own")
    return y.reshape(*lead, W.shape[1])


def linear_backward(dy: np.ndarray, x: np.ndarray, W: np.ndarray, need_dx: bool = True):
    """Backward of ``linear_forward``: returns (dx, dW, db); dx is None if not needed.

    dy: (..., K), x: (..., D), W: (D, K)  ->  dx: (..., D), dW: (D, K), db: (K,)
    """
    dy2 = dy.reshape(-1, dy.shape[-1])
    x2 = x.reshape(-1, x.shape[-1])
    dW = split.matmul(x2.T, dy2)
    db = dy2.sum(axis=0)
    dx = split.matmul(dy2, W.T).reshape(x.shape) if need_dx else None
    return dx, dW, db


def projection_stand_in(x, xw, params: dict):
    """What a cell validates as its input x: x itself, or, when the caller passed the projection xw
    (T, N, G) instead (the embedding fold), a zero-stride (T, N, D) stand-in with xw's T, N and dtype."""
    if xw is None:
        return x
    if x is not None:
        raise ValueError("pass either x or xw (its projection x W_x + b), not both")
    if not isinstance(xw, np.ndarray) or xw.ndim != 3:
        raise ValueError(f"xw must be a numpy array of shape (T, N, G), got {getattr(xw, 'shape', type(xw).__name__)}")
    D = params["W_x"].shape[0] if isinstance(params, dict) and "W_x" in params else 0
    return np.broadcast_to(np.zeros((), xw.dtype), (xw.shape[0], xw.shape[1], D))


# ----------------------------------------------------------------------------------------------------
# Embedding.

class RowGather(NamedTuple):
    """An input projection given as rows of a table: ``xw[t, n] = table[ids[t, n]]`` (the embedding fold).

    A cell that takes it (``TAKES_ROW_GATHER``: rnn, lstm, gru) reads the rows inside its whole-layer loop
    (or materialises them, ``rows``, on its other paths) and returns the table's gradient (V, G) in place of
    dxw; the stack does the same for any other cell (``rows``, then ``embedding_backward``).
    """

    table: np.ndarray        # (V, G)
    ids: np.ndarray          # int (T, N), values in [0, V)

    def rows(self) -> np.ndarray:
        """The projection itself, (T, N, G)."""
        return embedding_forward(self.ids, self.table)

    def check(self, name: str, G, dtype) -> tuple[int, int]:
        """Validate the table (V, G) and ids (T, N); return T, N."""
        checks.float_array(f"{name}.table", self.table, ("V", G), dtype)
        ids = np.asarray(self.ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name}.ids must be an integer array of shape (T, N), got {ids.dtype} {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.table.shape[0]):
            raise ValueError(f"{name}.ids must lie in [0, V) = [0, {self.table.shape[0]}), "
                             f"got values in [{ids.min()}, {ids.max()}]")
        return ids.shape


def embedding_forward(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Look up rows of ``table``.

    ids: int (T, N) with values in [0, V), table: (V, E)  ->  (T, N, E)
    """
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be an integer array, got dtype {ids.dtype}")
    V = table.shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(f"ids must lie in [0, V) = [0, {V}), got values in [{ids.min()}, {ids.max()}]")
    return table[ids]


def embedding_backward(d_out: np.ndarray, ids: np.ndarray, V: int) -> np.ndarray:
    """Gradient of the table: rows scatter-added by id (repeated ids accumulate).

    d_out: (T, N, E), ids: (T, N)  ->  d_table: (V, E)
    """
    E = d_out.shape[-1]
    d_table = np.zeros((V, E), dtype=d_out.dtype)
    ids, rows = ids.reshape(-1), d_out.reshape(-1, E)
    if kernels.fused(2):                                       # the same sum, in the same order, compiled
        kernels.load("embed").scatter_add(d_table, ids, np.ascontiguousarray(rows))
    else:
        np.add.at(d_table, ids, rows)
    return d_table


# ----------------------------------------------------------------------------------------------------
# Softmax cross-entropy with a mask.

def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_inplace(logits: np.ndarray) -> np.ndarray:
    """softmax over the last axis, written into ``logits``."""
    logits -= logits.max(axis=-1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=-1, keepdims=True)
    return logits


def softmax_cross_entropy(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None,
                          inplace: bool = False):
    """Mean negative log-likelihood over the real (mask = 1) tokens, and its gradient.

    logits: (T, N, V), targets: int (T, N), mask: (T, N) or None; inplace: overwrite logits with the
    gradient (no (T, N, V) temporaries; the language model's training step does this)
    returns (loss: float, d_logits: (T, N, V))
    """
    T, N, V = logits.shape
    targets = np.asarray(targets)
    if targets.shape != (T, N):
        raise ValueError(f"targets must have shape (T, N) = ({T}, {N}), got {targets.shape}")
    if targets.size and (targets.min() < 0 or targets.max() >= V):
        raise ValueError(f"targets must lie in [0, V) = [0, {V}), got values in [{targets.min()}, {targets.max()}]")
    weights = np.ones((T, N), dtype=logits.dtype) if mask is None else np.asarray(mask, dtype=logits.dtype)
    if weights.shape != (T, N):
        raise ValueError(f"mask must have shape (T, N) = ({T}, {N}), got {weights.shape}")
    count = weights.sum()
    if count == 0:
        raise ValueError("mask selects no token: the loss of zero tokens is undefined")
    probs = _softmax_inplace(logits) if inplace else softmax(logits)
    rows_t, rows_n = np.indices((T, N))
    picked = probs[rows_t, rows_n, targets]
    tiny = np.finfo(logits.dtype).tiny
    loss = float(-(np.log(np.maximum(picked, tiny)) * weights).sum() / count)
    d_logits = probs
    d_logits[rows_t, rows_n, targets] -= 1.0
    d_logits *= (weights / count)[:, :, None]
    return loss, d_logits


# ----------------------------------------------------------------------------------------------------
# Inverted dropout.

def dropout_forward(x: np.ndarray, p: float, rng: np.random.Generator | None, training: bool = True):
    """Zero each element with probability p and scale the survivors by 1 / (1 - p).

    Returns (y, keep) where keep is the scaled keep-mask (same shape as x) or None when no dropout
    was applied (p == 0 or not training). The rng is explicit so runs are reproducible.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout p must lie in [0, 1), got {p}")
    if p == 0.0 or not training:
        return x, None
    if rng is None:
        raise ValueError("dropout with p > 0 in training needs an explicit rng (np.random.Generator)")
    keep = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1.0 - p)
    return x * keep, keep


def dropout_backward(dy: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    return dy if keep is None else dy * keep


__all__ = [
    "sigmoid", "sigmoid_grad_from_output", "tanh_grad_from_output", "relu", "relu_grad_from_output",
    "identity", "identity_grad_from_output", "ACTIVATIONS",
    "activation", "linear_forward", "linear_backward", "embedding_forward", "embedding_backward",
    "log_softmax", "softmax", "softmax_cross_entropy", "dropout_forward", "dropout_backward", "checks",
    "reverse_index", "time_gather",
]


def reverse_index(m: np.ndarray | None, T: int, N: int) -> np.ndarray:
    """R (T, N): R[t, n] = T_n - 1 - t on sequence n's real steps, t on its padding; R is an involution.
    m: the mask (T, N, 1) or None (every sequence T steps long)."""
    t = np.arange(T)[:, None]
    lengths = np.full((1, N), T) if m is None else m[:, :, 0].sum(axis=0, keepdims=True).astype(np.int64)
    return np.where(t < lengths, lengths - 1 - t, t)


def time_gather(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    """a[index[t, n], n] for every (t, n): a (T, N, ...) -> (T, N, ...) (a bidirectional layer's reversal)."""
    return a[index, np.arange(a.shape[1])[None, :]]
