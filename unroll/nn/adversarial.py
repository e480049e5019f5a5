"""Adversarial training on the embedded inputs (Goodfellow et al. 2015, "Explaining and harnessing adversarial
examples"; Miyato, Dai & Goodfellow 2017, "Adversarial training methods for semi-supervised text
classification"): the model also learns from each batch moved a step ε in the direction that raises its loss
most, measured on the embeddings (tokens are discrete; their vectors are not).

For a batch of N sequences with embedded inputs e (T, N, E) (after embedding dropout) and real steps m::

    g_n     = ∂L/∂e[:, n]                   the loss's gradient at sequence n's inputs          (T, E)
    r_n     = ε · g_n / ‖g_n‖₂              ‖·‖₂ over all of sequence n's real steps and features (T, E)
    J(θ)    = L(θ; e) + L(θ; e + r)         r held constant: no gradient flows through it

so ∂J/∂θ is the sum of two ordinary backward passes, the second one through the perturbed batch (its own
dropout masks). One training step costs two forward and two backward passes. Evaluation never perturbs.
``direction`` gives r; the model (models/classifier.py) runs both passes.
"""

from __future__ import annotations

import numpy as np


def check_epsilon(epsilon, name: str = "the adversarial step ε") -> float:
    """ε as a float, or a one-line ValueError naming ``name`` (a flag, where a user gave it): a number ≥ 0
    (0: no adversarial pass)."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.floating)) or not epsilon >= 0:
        raise ValueError(f"{name} must be a number >= 0 (the step ε; 0: off), got {epsilon!r}")
    return float(epsilon)


def direction(d_inputs: np.ndarray, mask: np.ndarray, epsilon: float) -> np.ndarray:
    """r (T, N, E): ε times each sequence's input gradient over its own L2 norm, zero on padding.

    d_inputs: ∂L/∂e (T, N, E); mask (T, N): 1 on real steps. A sequence whose gradient is exactly zero gets
    r = 0 (no direction raises its loss)."""
    g = d_inputs * mask[:, :, None]
    norms = np.sqrt(np.einsum("tne,tne->n", g, g, dtype=np.float64))                  # (N,)
    scale = np.divide(epsilon, norms, out=np.zeros_like(norms), where=norms > 0)
    return (g * scale[None, :, None]).astype(d_inputs.dtype)
