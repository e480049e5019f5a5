"""The seeds' two warnings about vanishing and exploding gradients, measured and drawn.

1. **The activation** (seed 003, its Figures 5 and 6): the gradient through k steps of a vanilla RNN is a
   product of k factors diag(f'(a_t)) W_hᵀ. sigmoid' ≤ 1/4, tanh' ≤ 1, relu' = 1 on active units, identity' = 1,
   so with the same weights the sigmoid's gradient vanishes fastest. ``derivative_curves`` gives f'(a) on a
   grid; ``reach_by_activation`` the norm ‖∂L/∂h_{T-k}‖ against the distance k for each activation, on one
   set of weights and inputs.
2. **The scale of a Gaussian initialisation** (seed 003: "the wrong initialization of weights could make
   the weights reach large values and make the gradient values explode"): with W_h ~ N(0, σ²) the spectral
   radius of W_h is about σ·sqrt(H), so the gradient through k steps scales like (σ·sqrt(H))^k on linear units:
   σ·sqrt(H) < 1 vanishes, > 1 explodes. ``reach_by_gaussian_scale`` measures ‖∂L/∂h_{T-k}‖ for several σ,
   on linear and tanh units (tanh saturates at large σ, which turns part of the explosion into vanishing).

``draw(out)`` writes both comparisons as ``activations.png`` and ``gaussian_scale.png`` and returns every
plotted number; ``unroll diagnose`` calls it. The loss is L = Σ h_T ⊙ G for a fixed random G (the
gradient reaching the last state), so the curves show the recurrence alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unroll.analysis.gradients import loss_reach
from unroll.nn import init, ops, rnn

ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")
GAUSSIAN_GAINS = (0.5, 1.0, 1.5)          # σ = gain / sqrt(H): spectral radius of W_h ≈ gain


def derivative_curves(a: np.ndarray | None = None) -> dict:
    """f'(a) for tanh, sigmoid, relu (and identity) on a grid, taken from the outputs as the cells do.

    returns {"a": (P,), "tanh": (P,), "sigmoid": (P,), "relu": (P,), "identity": (P,)}
    """
    a = np.linspace(-6.0, 6.0, 241) if a is None else np.asarray(a, dtype=np.float64)
    out = {"a": a}
    for name in ACTIVATIONS:
        f, f_grad = ops.activation(name)
        out[name] = f_grad(f(a))
    return out


def _problem(T: int, N: int, H: int, seed: int):
    """One set of inputs x (T, N, H) and upstream gradient G (N, H), from ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, N, H)), rng.standard_normal((N, H)) / np.sqrt(N * H)


def reach_by_activation(T: int = 50, N: int = 16, H: int = 32, gain: float = 1.0, seed: int = 0) -> dict:
    """‖∂L/∂h_{T-k}‖ for k = 0..T, one curve per activation, all on the same weights (W_h ~ N(0, gain²/H),
    W_x ~ N(0, 1/H), b = 0) and inputs.

    returns {"distance": (T+1,), "tanh": (T+1,), "sigmoid": ..., "relu": ..., "identity": ...}
    """
    params = _gaussian_rnn(H, gain, seed)
    x, G = _problem(T, N, H, seed + 1)
    out = {"distance": np.arange(T + 1)}
    for name in ACTIVATIONS:
        out[name] = loss_reach(rnn, params, x, G, activation=name)["h"]
    return out


def reach_by_gaussian_scale(T: int = 50, N: int = 16, H: int = 32, gains=GAUSSIAN_GAINS, seed: int = 0,
                            activation: str = "identity") -> dict:
    """‖∂L/∂h_{T-k}‖ for k = 0..T with W_h ~ N(0, σ²), σ = gain / sqrt(H), one curve per gain.

    returns {"distance": (T+1,), "sigma": [σ per gain], "gain=g": (T+1,) per gain, "spectral_radius": [...]}
    """
    x, G = _problem(T, N, H, seed + 1)
    out = {"distance": np.arange(T + 1), "sigma": [g / np.sqrt(H) for g in gains], "spectral_radius": []}
    for g in gains:
        params = _gaussian_rnn(H, g, seed)
        out["spectral_radius"].append(float(np.max(np.abs(np.linalg.eigvals(params["W_h"])))))
        out[f"gain={g:g}"] = loss_reach(rnn, params, x, G, activation=activation)["h"]
    return out


def _gaussian_rnn(H: int, gain: float, seed: int) -> dict:
    """RNN params with W_h ~ N(0, gain²/H) (``init.by_name`` 'gaussian:S'), W_x ~ N(0, 1/H), b = 0."""
    params = rnn.init(H, H, np.random.default_rng(seed), np.float64)
    params = init.by_name(params, f"gaussian:{float(gain / np.sqrt(H))!r}", np.random.default_rng(seed))
    params["W_x"] = np.random.default_rng(seed + 7).standard_normal((H, H)) / np.sqrt(H)
    params["b"] = np.zeros(H)
    return params


def draw(out: Path, T: int = 50, H: int = 32, seed: int = 0) -> dict:
    """Write activations.png and gaussian_scale.png into ``out`` (which must exist); return the numbers."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = derivative_curves()
    by_act = reach_by_activation(T=T, H=H, seed=seed)
    by_scale = {act: reach_by_gaussian_scale(T=T, H=H, seed=seed, activation=act) for act in ("identity", "tanh")}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name in ("tanh", "sigmoid", "relu"):
        left.plot(curves["a"], curves[name], label=f"{name}'")
    left.set(title="derivatives (seed 003, Figure 5)", xlabel="pre-activation a", ylabel="f'(a)")
    for name in ACTIVATIONS:
        right.semilogy(by_act["distance"], np.maximum(by_act[name], 1e-300), label=name)
    right.set(title=f"gradient reach, same weights (H={H})", xlabel="distance in time k",
              ylabel="‖∂L/∂h_{T-k}‖")
    for ax in (left, right):
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "activations.png", dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (act, data) in zip(axes, by_scale.items()):
        for g, sigma, rho in zip(GAUSSIAN_GAINS, data["sigma"], data["spectral_radius"]):
            ax.semilogy(data["distance"], np.maximum(data[f"gain={g:g}"], 1e-300),
                        label=f"σ = {sigma:.3f} (ρ(W_h) = {rho:.2f})")
        ax.set(title=f"Gaussian W_h, {act} units", xlabel="distance in time k", ylabel="‖∂L/∂h_{T-k}‖")
        ax.legend()
    fig.suptitle("seed 003: a wrong Gaussian scale makes the gradient vanish or explode")
    fig.tight_layout()
    fig.savefig(out / "gaussian_scale.png", dpi=110)
    plt.close(fig)
    as_lists = lambda d: {k: np.asarray(v).tolist() for k, v in d.items()}  # noqa: E731
    return {"derivatives": as_lists(curves), "reach_by_activation": as_lists(by_act),
            "reach_by_gaussian_scale": {act: as_lists(d) for act, d in by_scale.items()}}
