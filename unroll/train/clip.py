"""Gradient clipping, as torch.nn.utils does it (the optimizers: train/optim.py, which re-exports these)."""

from __future__ import annotations

import math

import numpy as np


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most ``max_norm``; return the norm before.

    As torch.nn.utils.clip_grad_norm_: total = sqrt(Σ ||g||²), and when max_norm / (total + 1e-6) < 1
    every array is multiplied by that factor. A non-finite total is returned as is and nothing is scaled
    unless it is +inf (then the factor is 0), so a NaN guard can look at the returned value.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads.values():
            g *= coef
    return total


def clip_grad_value(grads: dict, clip: float) -> None:
    """Clamp every gradient entry to [-clip, clip] in place (torch.nn.utils.clip_grad_value_)."""
    if not clip > 0:
        raise ValueError(f"clip must be > 0, got {clip!r}")
    for g in grads.values():
        np.clip(g, -clip, clip, out=g)
