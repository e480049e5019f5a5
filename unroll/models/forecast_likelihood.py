"""The forecaster's likelihood heads (``--likelihood gaussian|student-t``): raw outputs -> distribution,
masked NLL with its gradients, quantiles and draws.

gaussian: the head of ``unroll.nn.likelihood`` (μ, a; σ = softplus(a) + σ_min). One raw output besides μ.

student-t (heavy tails; two raw outputs besides μ, ``a`` of shape (2, ...) = (a_σ, a_ν))::

    σ = softplus(a_σ) + σ_min,    ν = 2 + softplus(a_ν)                   (1)   ν > 2: a finite variance
    r = (y - μ) / σ
    ℓ = lnΓ(ν/2) - lnΓ((ν+1)/2) + ½ ln(νπ) + ln σ + (ν+1)/2 · ln(1 + r²/ν)   (2)   -log t_ν(y; μ, σ)
    L = Σ w ℓ / Σ w                                                        (3)

Backward, with W = Σ w and D = ν + r²::

    ∂ℓ/∂μ = -(ν+1) r / (σ D)
    ∂ℓ/∂σ = 1/σ - (ν+1) r² / (σ D)
    ∂ℓ/∂ν = ½ [ψ(ν/2) - ψ((ν+1)/2) + 1/ν + ln(1 + r²/ν) - (ν+1) r² / (ν D)]      ψ: the digamma function
    ∂/∂a_σ = ∂ℓ/∂σ · sigmoid(a_σ),  ∂/∂a_ν = ∂ℓ/∂ν · sigmoid(a_ν)           from (1), each times w / W

Quantiles q_p = μ + σ T_ν⁻¹(p): T_ν(t) = 1 - ½ I_{ν/(ν+t²)}(ν/2, ½) for t >= 0 (the regularised incomplete
beta function by its continued fraction), inverted by bisection; no scipy needed.
"""

from __future__ import annotations

import math

import numpy as np

from unroll.nn import likelihood as lk
from unroll.nn import ops

HEADS = ("gaussian", "student-t")
RAW = {"gaussian": 1, "student-t": 2}            # raw outputs per target besides μ
NU_MIN = 2.0
_lgamma = np.vectorize(math.lgamma, otypes=[float])


def dof_of(b: np.ndarray) -> np.ndarray:
    """ν = 2 + softplus(a_ν)  (1)."""
    return NU_MIN + lk.softplus(b)


def nll(kind: str, mu: np.ndarray, a: np.ndarray, y: np.ndarray, w: np.ndarray | None = None):
    """Masked mean NLL and gradients (loss, dmu, da); a: (...) gaussian, (2, ...) student-t."""
    if kind == "gaussian":
        return lk.gaussian_nll(mu, a, y, w)
    w = np.ones_like(mu) if w is None else np.asarray(w, mu.dtype)
    total = w.sum()
    if total == 0:
        raise ValueError("the mask selects no target: the likelihood of zero points is undefined")
    sigma, nu = lk.scale_of(a[0]), dof_of(a[1])
    r = (y - mu) / sigma
    D = nu + r * r
    each = (_lgamma(nu / 2) - _lgamma((nu + 1) / 2) + 0.5 * np.log(nu * math.pi) + np.log(sigma)
            + 0.5 * (nu + 1) * np.log1p(r * r / nu))
    loss = float((w * each).sum() / total)
    k = w / total
    dmu = -k * (nu + 1) * r / (sigma * D)
    dsigma = k * (1.0 / sigma - (nu + 1) * r * r / (sigma * D))
    dnu = k * 0.5 * (digamma(nu / 2) - digamma((nu + 1) / 2) + 1.0 / nu + np.log1p(r * r / nu)
                     - (nu + 1) * r * r / (nu * D))
    da = np.stack([dsigma * ops.sigmoid(a[0]), dnu * ops.sigmoid(a[1])])
    return loss, dmu.astype(mu.dtype, copy=False), da.astype(a.dtype, copy=False)


def quantile(kind: str, mu: np.ndarray, a: np.ndarray, p: float) -> np.ndarray:
    if kind == "gaussian":
        return lk.quantile(mu, lk.scale_of(a), p)
    return mu + lk.scale_of(a[0]) * t_quantile(dof_of(a[1]), p)


def draw(kind: str, mu: np.ndarray, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per element (the autoregressive decoder's next input)."""
    if kind == "gaussian":
        return mu + lk.scale_of(a) * rng.standard_normal(mu.shape)
    return mu + lk.scale_of(a[0]) * rng.standard_t(dof_of(a[1]))


# ----------------------------------------------------------------------------------------------------
# Special functions.

def digamma(x: np.ndarray) -> np.ndarray:
    """ψ(x) for x > 0: the recurrence ψ(x) = ψ(x+1) - 1/x up to x >= 8, then the asymptotic series."""
    x = np.asarray(x, float).copy()
    acc = np.zeros_like(x)
    while np.any(x < 8):
        small = x < 8
        acc[small] -= 1.0 / x[small]
        x[small] += 1.0
    inv2 = 1.0 / (x * x)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 * (1 / 132)))))
    return acc + np.log(x) - 0.5 / x - series


def _betacf(a, b, x, iterations: int = 200):
    """The continued fraction of the incomplete beta function (modified Lentz), elementwise."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = np.ones_like(x), 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) < tiny, tiny, d)
    h = d.copy()
    for m in range(1, iterations + 1):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / np.where(np.abs(d) < tiny, tiny, d)
            c = 1.0 + aa / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            h = h * d * c
    return h


def betainc(a, b, x):
    """The regularised incomplete beta function I_x(a, b), elementwise, 0 <= x <= 1."""
    a, b, x = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float), np.asarray(x, float))
    front = np.exp(_lgamma(a + b) - _lgamma(a) - _lgamma(b) + a * np.log(np.maximum(x, 1e-300))
                   + b * np.log(np.maximum(1 - x, 1e-300)))
    direct = x < (a + 1) / (a + b + 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = front * _betacf(a, b, x) / a
        high = 1.0 - front * _betacf(b, a, 1 - x) / b
    return np.where(x <= 0, 0.0, np.where(x >= 1, 1.0, np.where(direct, low, high)))


def t_cdf(t, nu):
    """T_ν(t), the standard Student-t distribution function."""
    t, nu = np.broadcast_arrays(np.asarray(t, float), np.asarray(nu, float))
    tail = 0.5 * betainc(nu / 2, 0.5, nu / (nu + t * t))
    return np.where(t >= 0, 1.0 - tail, tail)


def t_quantile(nu, p: float, steps: int = 8) -> np.ndarray:
    """T_ν⁻¹(p): Newton's method on T_ν from the Cornish-Fisher expansion in z = Φ⁻¹(p) (within a few
    percent for ν > 2), to ~1e-14."""
    nu = np.asarray(nu, float)
    if p == 0.5:
        return np.zeros_like(nu)
    z = abs(lk.Z[p]) if p in lk.Z else abs(_normal_quantile(p))
    t = (z + (z ** 3 + z) / (4 * nu) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * nu ** 2)
         + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * nu ** 3))
    target = max(p, 1 - p)
    log_c = _lgamma((nu + 1) / 2) - _lgamma(nu / 2) - 0.5 * np.log(nu * math.pi)
    for _ in range(steps):
        density = np.exp(log_c - 0.5 * (nu + 1) * np.log1p(t * t / nu))
        t = np.maximum(t - (t_cdf(t, nu) - target) / density, 0.5 * t)
    return t if p > 0.5 else -t


def _normal_quantile(p: float) -> float:
    """Φ⁻¹(p) by bisection on math.erf (the interval ends of ``likelihood.Z`` need none of this)."""
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p else (lo, mid)
    return 0.5 * (lo + hi)
