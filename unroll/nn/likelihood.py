"""Gaussian likelihood heads: a mean and a softplus scale per target, their masked NLL, and quantiles.

A network's raw output pair (μ, a) becomes a Normal distribution (DeepAR's Gaussian head)::

    σ = softplus(a) + σ_min = log(1 + e^a) + σ_min                     (1)   σ_min keeps σ > 0
    ℓ = log σ + ½ ((y - μ) / σ)² + ½ log 2π                           (2)   -log N(y; μ, σ²)
    L = Σ w ℓ / Σ w                                                    (3)   w: the 0/1 observed mask

Backward, with W = Σ w and r = (y - μ) / σ::

    ∂L/∂μ = -w r / (σ W)                                               from (2), (3)
    ∂L/∂σ =  w (1 - r²) / (σ W)                                        from (2), (3)
    ∂L/∂a =  ∂L/∂σ · sigmoid(a)                                        from (1): softplus' = sigmoid

Quantiles of the Normal are analytic: q_p = μ + σ Φ⁻¹(p); ``Z`` holds Φ⁻¹ for the interval ends unroll
reports (80%: p = 0.1, 0.9; 95%: p = 0.025, 0.975). Shapes are free: every array broadcasts to y's shape.
"""

from __future__ import annotations

import math

import numpy as np

from unroll.nn import ops

SIGMA_MIN = 1e-3
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
Z = {0.025: -1.959963984540054, 0.1: -1.2815515655446004, 0.5: 0.0, 0.9: 1.2815515655446004,
     0.975: 1.959963984540054}           # Φ⁻¹(p), the standard Normal's quantiles
INTERVALS = {"80": (0.1, 0.9), "95": (0.025, 0.975)}


def softplus(a: np.ndarray) -> np.ndarray:
    """log(1 + e^a), computed without overflow."""
    return np.logaddexp(0.0, a)


def scale_of(a: np.ndarray) -> np.ndarray:
    """σ = softplus(a) + σ_min  (1)."""
    return softplus(a) + SIGMA_MIN


def gaussian_nll(mu: np.ndarray, a: np.ndarray, y: np.ndarray, w: np.ndarray | None = None):
    """Masked mean Gaussian NLL (2, 3) and its gradients.

    mu, a, y, w: the same shape (w: 0/1 weights, None: all ones)
    returns (loss: float, dmu, da) with dmu, da of mu's shape
    """
    w = np.ones_like(mu) if w is None else np.asarray(w, mu.dtype)
    total = w.sum()
    if total == 0:
        raise ValueError("the mask selects no target: the likelihood of zero points is undefined")
    sigma = scale_of(a)
    r = (y - mu) / sigma
    loss = float((w * (np.log(sigma) + 0.5 * r * r + HALF_LOG_2PI)).sum() / total)
    dmu = -w * r / (sigma * total)                                  # ∂L/∂μ from (2), (3)
    dsigma = w * (1.0 - r * r) / (sigma * total)                    # ∂L/∂σ from (2), (3)
    da = dsigma * ops.sigmoid(a)                                    # (1): softplus'(a) = sigmoid(a)
    return loss, dmu, da


def quantile(mu: np.ndarray, sigma: np.ndarray, p: float) -> np.ndarray:
    """q_p = μ + σ Φ⁻¹(p) for p in ``Z``."""
    if p not in Z:
        raise ValueError(f"p must be one of {sorted(Z)}, got {p}")
    return mu + sigma * Z[p]


def sample_quantile(samples: np.ndarray, p: float, axis: int = 0) -> np.ndarray:
    """The empirical p-quantile of sample paths along ``axis`` (linear interpolation)."""
    return np.quantile(samples, p, axis=axis)
