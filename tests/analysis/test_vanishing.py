"""The seeds' warnings measured (analysis/vanishing.py): derivative curves in closed form, the sigmoid's
gradient vanishing fastest on the same weights, and a Gaussian W_h whose scale decides vanishing or exploding."""

import numpy as np
import pytest

from unroll.analysis import vanishing


def test_derivative_curves_are_the_closed_forms():
    a = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    curves = vanishing.derivative_curves(a)
    np.testing.assert_allclose(curves["tanh"], 1 / np.cosh(a) ** 2, rtol=1e-12)
    s = 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(curves["sigmoid"], s * (1 - s), rtol=1e-12)
    np.testing.assert_array_equal(curves["relu"], [0, 0, 0, 1, 1])
    assert vanishing.derivative_curves()["sigmoid"].max() == pytest.approx(0.25, abs=1e-12)   # at a = 0


def test_linear_units_gradient_reach_is_the_matrix_power():
    """identity units: ∂L/∂h_{T-k} = G (W_hᵀ)^k exactly, an independent closed form."""
    T, N, H = 12, 4, 8
    r = vanishing.reach_by_activation(T=T, N=N, H=H, seed=3)
    params = vanishing._gaussian_rnn(H, 1.0, 3)
    _, G = vanishing._problem(T, N, H, 4)
    expected = [np.linalg.norm(G @ np.linalg.matrix_power(params["W_h"].T, k)) for k in range(T + 1)]
    np.testing.assert_allclose(r["identity"], expected, rtol=1e-10)


def test_sigmoid_vanishes_fastest_on_the_same_weights():
    r = vanishing.reach_by_activation(T=20, N=8, H=16)
    assert r["sigmoid"][20] < 1e-3 * r["tanh"][20]
    assert r["sigmoid"][1] <= 0.25 * np.linalg.norm(vanishing._gaussian_rnn(16, 1.0, 0)["W_h"], 2)


def test_wrong_gaussian_scale_vanishes_or_explodes():
    r = vanishing.reach_by_gaussian_scale(T=40, N=8, H=32, gains=(0.5, 1.5))
    small, large = r["gain=0.5"], r["gain=1.5"]
    assert r["spectral_radius"][0] < 1 < r["spectral_radius"][1]
    assert small[40] < 1e-8 and large[40] > 1e5


def test_draw_writes_both_figures(tmp_path):
    numbers = vanishing.draw(tmp_path, T=10, H=8)
    assert (tmp_path / "activations.png").stat().st_size > 10_000
    assert (tmp_path / "gaussian_scale.png").stat().st_size > 10_000
    assert len(numbers["reach_by_activation"]["sigmoid"]) == 11
