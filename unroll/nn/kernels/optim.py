"""One-pass optimizer updates (the element-wise sequences of ``unroll/train/optim.py``, fused)."""

from __future__ import annotations

import numpy as np
from numba import njit

from unroll.nn.kernels.mathfn import OPTIONS


@njit(**OPTIONS)
def adam(p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, root_bc2, eps, step_size, decay):
    """torch.optim.Adam's update (AdamW's with decay = 1 - lr λ), in torch's order, one pass: p, g, m, v 1-D of
    one dtype; the scalars in it.

    m ← β1 m + (1 - β1) g;  v ← β2 v + (1 - β2) g²;
    p ← p · decay - step_size · m / (sqrt(v) / sqrt(1 - β2^t) + eps)     (decay 1: p · 1 is p, bit for bit)

    p · decay is rounded before the subtraction, as the ufunc sequence's ``p *= decay`` is (OPTIONS has no
    fastmath contraction into an FMA).
    """
    for k in range(p.shape[0]):
        gk = g[k]
        mk = m[k] * beta1 + gk * one_minus_beta1
        vk = v[k] * beta2 + (gk * gk) * one_minus_beta2
        m[k] = mk
        v[k] = vk
        p[k] = p[k] * decay - mk / (np.sqrt(vk) / root_bc2 + eps) * step_size
