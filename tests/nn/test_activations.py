"""Hidden activations sigmoid and identity (linear) for the vanilla RNN, beside tanh and relu (seeds 000, 003):
derivatives from outputs against centred differences of the function, a naive per-example reference,
float64 gradient checks with and without a mask, and the closed form of the linear RNN."""

import numpy as np
import pytest

from unroll.nn import gradcheck, ops, rnn

T, N, D, H = 5, 3, 4, 6
MASK = np.array([[1, 1, 1]] * 2 + [[1, 0, 1]] * 2 + [[1, 0, 0]])
REFERENCE = {"sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)), "identity": lambda a: a,
             "tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0)}


def make(rng):
    params = rnn.init(D, H, rng, np.float64)
    params["b"] = rng.uniform(-0.5, 0.5, H)
    return params, rng.standard_normal((T, N, D)), 0.5 * rng.standard_normal((N, H))


@pytest.mark.parametrize("name", ["tanh", "relu", "sigmoid", "identity"])
def test_derivative_from_output_equals_centred_difference(name):
    a = np.linspace(-4.0, 4.0, 81) + 0.013                     # avoids relu's kink at 0
    f, f_grad = ops.activation(name)
    np.testing.assert_allclose(f(a), REFERENCE[name](a), rtol=1e-14, atol=1e-15)
    eps = 1e-6
    numeric = (REFERENCE[name](a + eps) - REFERENCE[name](a - eps)) / (2 * eps)
    np.testing.assert_allclose(f_grad(f(a)), numeric, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("activation", ["sigmoid", "identity"])
def test_forward_matches_naive_per_example_reference(activation):
    params, x, h0 = make(np.random.default_rng(0))
    f, h, ref = REFERENCE[activation], h0, []
    for t in range(T):
        h = np.stack([f(params["W_x"].T @ x[t, n] + params["W_h"].T @ h[n] + params["b"]) for n in range(N)])
        ref.append(h)
    hs, hT, _ = rnn.forward(x, params, h0, activation=activation)
    np.testing.assert_allclose(hs, np.stack(ref), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rnn.step(x[0], params, h0, activation), hs[0], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("activation", ["sigmoid", "identity"])
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_centred_differences(activation, masked):
    rng = np.random.default_rng(1)
    params, x, h0 = make(rng)
    mask = MASK if masked else None
    G, GT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))

    def loss():
        hs, hT, _ = rnn.forward(x, params, h0, mask, activation)
        return gradcheck.contract((hs, hT), (G, GT))

    _, _, cache = rnn.forward(x, params, h0, mask, activation)
    dx, dh0, grads = rnn.backward(G, cache, GT)
    errors = gradcheck.check(loss, {"x": x, "h0": h0, **params}, {"x": dx, "h0": dh0, **grads})
    assert max(errors.values()) < 1e-7, errors


def test_linear_rnn_gradient_of_the_first_state_is_the_matrix_power():
    """h_t = x_t W_x + h_{t-1} W_h + b is linear, so ∂h_T/∂h_0 = W_h^T exactly: dh_0 = dh_T (W_hᵀ)^T."""
    rng = np.random.default_rng(2)
    params, x, h0 = make(rng)
    _, hT, cache = rnn.forward(x, params, h0, activation="identity")
    dhT = rng.standard_normal((N, H))
    _, dh0, _ = rnn.backward(np.zeros((T, N, H)), cache, dhT)
    np.testing.assert_allclose(dh0, dhT @ np.linalg.matrix_power(params["W_h"].T, T), rtol=1e-12, atol=1e-13)
    closed = h0 @ np.linalg.matrix_power(params["W_h"], T) + sum(
        (x[t] @ params["W_x"] + params["b"]) @ np.linalg.matrix_power(params["W_h"], T - 1 - t) for t in range(T))
    np.testing.assert_allclose(hT, closed, rtol=1e-12, atol=1e-12)
