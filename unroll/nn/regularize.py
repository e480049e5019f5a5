"""Regularisers that keep the fused recurrent kernels: they change what a cell *receives* (its W_h, its
input sequence), never the cell's time loop, so every cell and kernel runs unchanged.

**DropConnect on the recurrent weights** (Wan et al. 2013; AWD-LSTM's weight drop, Merity et al. 2018):
one mask per batch (per forward call) on W_h, the same at every time step and for every sequence::

    M ~ Bernoulli(1 - p)^(H, G),   W̃_h = W_h ⊙ M / (1 - p)       forward: the cell runs with W̃_h
    dW_h = dW̃_h ⊙ M / (1 - p)                                    backward: the cell's dW̃_h, masked

**Locked (variational) dropout** (Gal & Ghahramani 2016): one mask per sequence and feature, the same at
every time step::

    m ~ Bernoulli(1 - p)^(1, N, D),   y_t = x_t ⊙ m / (1 - p)    for t = 1..T
    dx_t = dy_t ⊙ m / (1 - p)

Both are training-only: at evaluation (``training=False``) the input comes back unchanged, so a model
evaluates exactly as a dropout-free copy. Cost per training step: weight drop draws H·G uniforms and does
two elementwise products of W_h's size per layer and direction (independent of T and N); locked dropout
draws N·D uniforms instead of T·N·D and does the same one product as ordinary dropout. Neither adds work
inside the time loop.
"""

from __future__ import annotations

import numpy as np

from unroll.nn import ops


def _check(p: float) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"dropout p must be a number in [0, 1), got {p!r}")


def weight_drop(W_h: np.ndarray, p: float, rng: np.random.Generator | None, training: bool = True):
    """(W̃_h, M/(1-p) or None): DropConnect on a recurrent weight matrix, one mask per call."""
    _check(p)
    if p == 0.0 or not training:
        return W_h, None
    if rng is None:
        raise ValueError("weight drop with p > 0 in training needs an explicit rng (np.random.Generator)")
    return ops.dropout_forward(W_h, p, rng, training)          # the same mask draw as dropout, on W_h


weight_drop_backward = ops.dropout_backward                    # dW_h = dW̃_h ⊙ M / (1 - p)


def locked_dropout(x: np.ndarray, p: float, rng: np.random.Generator | None, training: bool = True):
    """x (T, N, D) -> (y, keep (1, N, D) or None): one mask per sequence and feature for every step."""
    _check(p)
    if p == 0.0 or not training:
        return x, None
    if rng is None:
        raise ValueError("locked dropout with p > 0 in training needs an explicit rng (np.random.Generator)")
    keep = (rng.random((1, *x.shape[1:])) >= p).astype(x.dtype) / x.dtype.type(1.0 - p)
    return x * keep, keep


def locked_dropout_backward(dy: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """dx_t = dy_t ⊙ m / (1 - p) (keep broadcasts over time)."""
    return dy if keep is None else dy * keep


def dropout(x: np.ndarray, p: float, rng, training: bool, locked: bool):
    """Ordinary inverted dropout (a fresh mask per element) or, with ``locked``, locked dropout."""
    return locked_dropout(x, p, rng, training) if locked else ops.dropout_forward(x, p, rng, training)


def lstm_masks(recurrent_dropout: float, zoneout: float, T: int, N: int, H: int, rng, training: bool, dtype) -> dict:
    """``nn/lstm_reg.py``'s masks for one LSTM layer and direction: {"recurrent_keep", "zoneout"}.

    recurrent dropout p_r: one keep-mask r ~ Bernoulli(1 - p_r)^(N, H) / (1 - p_r) per sequence on h_{t-1}
    where it enters the gates (ones at evaluation); zoneout p_z: zh, zc ~ Bernoulli(p_z)^(T, N, H), 1 = the
    unit keeps its previous h (c); at evaluation both are the expectation p_z.
    """
    _check(recurrent_dropout)
    _check(zoneout)
    keep = None
    if recurrent_dropout and training:
        keep = (rng.random((N, H)) >= recurrent_dropout).astype(dtype) / dtype.type(1.0 - recurrent_dropout)
    if not zoneout:
        return {"recurrent_keep": keep, "zoneout": None}
    if not training:
        z = np.full((T, N, H), zoneout, dtype)
        return {"recurrent_keep": keep, "zoneout": (z, z)}
    return {"recurrent_keep": keep, "zoneout": tuple((rng.random((T, N, H)) < zoneout).astype(dtype) for _ in "hc")}


def zoneout_step(old: tuple, new: tuple, zoneout: float) -> tuple:
    """One decoding step of a zoned-out LSTM at evaluation: (h, c) = p (h, c)_{t-1} + (1 - p) (h̃, c̃)_t."""
    return tuple(zoneout * o + (1.0 - zoneout) * n for o, n in zip(old, new))
