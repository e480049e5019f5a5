"""Vanilla RNN: naive reference, float64 gradient check, fast path == step loop, masks, bad input."""

import numpy as np
import pytest

from unroll.nn import gradcheck, rnn

T, N, D, H = 5, 3, 4, 6


def make(rng, dtype=np.float64):
    params = rnn.init(D, H, rng, dtype)
    params["b"] = rng.uniform(-0.5, 0.5, H).astype(dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype) * 0.5
    return params, x, h0


def naive_forward(x, params, h0, activation):
    f = np.tanh if activation == "tanh" else (lambda a: np.maximum(a, 0))
    h, hs = h0, []
    for t in range(x.shape[0]):
        h = np.stack([f(params["W_x"].T @ x[t, n] + params["W_h"].T @ h[n] + params["b"]) for n in range(x.shape[1])])
        hs.append(h)
    return np.stack(hs), h


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_forward_matches_naive_per_example_reference(activation):
    params, x, h0 = make(np.random.default_rng(0))
    hs, hT, _ = rnn.forward(x, params, h0, activation=activation)
    ref_hs, ref_hT = naive_forward(x, params, h0, activation)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, ref_hT, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_centred_differences(activation, masked):
    rng = np.random.default_rng(1)
    params, x, h0 = make(rng)
    mask = np.array([[1, 1, 1]] * 2 + [[1, 0, 1]] * 2 + [[1, 0, 0]]) if masked else None
    G, GT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))

    def loss():
        hs, hT, _ = rnn.forward(x, params, h0, mask, activation)
        return gradcheck.contract((hs, hT), (G, GT))

    _, _, cache = rnn.forward(x, params, h0, mask, activation)
    dx, dh0, grads = rnn.backward(G, cache, GT)
    errors = gradcheck.check(loss, {"x": x, "h0": h0, **params}, {"x": dx, "h0": dh0, **grads})
    assert max(errors.values()) < 1e-7, errors


def test_sequence_path_equals_step_loop():
    params, x, h0 = make(np.random.default_rng(2))
    hs, hT, _ = rnn.forward(x, params, h0)
    h = h0
    for t in range(T):
        h = rnn.step(x[t], params, h)
        np.testing.assert_allclose(hs[t], h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, h, rtol=1e-12, atol=1e-12)


def test_masked_batch_equals_each_sequence_alone():
    rng = np.random.default_rng(3)
    params, x, h0 = make(rng)
    lengths = [5, 2, 4]
    mask = (np.arange(T)[:, None] < np.array(lengths)[None, :]).astype(float)
    G = rng.standard_normal((T, N, H)) * mask[:, :, None]
    GT = rng.standard_normal((N, H))
    hs, hT, cache = rnn.forward(x, params, h0, mask)
    dx, dh0, grads = rnn.backward(G, cache, GT)
    total = {k: np.zeros_like(v) for k, v in grads.items()}
    for n, L in enumerate(lengths):
        hs_n, hT_n, cache_n = rnn.forward(x[:L, n:n + 1], params, h0[n:n + 1])
        np.testing.assert_allclose(hs[:L, n:n + 1], hs_n, rtol=1e-12, atol=1e-12)
        assert np.all(hs[L:, n] == 0)
        np.testing.assert_allclose(hT[n:n + 1], hT_n, rtol=1e-12, atol=1e-12)
        dx_n, dh0_n, g_n = rnn.backward(G[:L, n:n + 1], cache_n, GT[n:n + 1])
        np.testing.assert_allclose(dx[:L, n:n + 1], dx_n, rtol=1e-11, atol=1e-12)
        assert np.all(dx[L:, n] == 0)
        np.testing.assert_allclose(dh0[n:n + 1], dh0_n, rtol=1e-11, atol=1e-12)
        for k in total:
            total[k] += g_n[k]
    for k in grads:
        np.testing.assert_allclose(grads[k], total[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bad, match", [
    (dict(x=np.zeros((5, 3))), r"x must have shape \(T, N, 4\)"),
    (dict(x=np.zeros((5, 3, 7))), r"x must have shape \(T, N, 4\)"),
    (dict(x=np.zeros((5, 3, 4), np.float32)), "x has dtype float32 but the parameters are float64"),
    (dict(x=np.zeros((5, 3, 4), np.int64)), "x must be float32 or float64"),
    (dict(state0=np.zeros((2, 6))), r"state0 must have shape \(3, 6\)"),
    (dict(mask=np.ones((4, 3))), r"mask must have shape \(T, N\) = \(5, 3\)"),
    (dict(mask=np.array([[1, 1, 1], [0, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]])), "mask column 0 is not a prefix"),
    (dict(mask=np.array([[1, 0, 1]] * 5)), "mask column 1 has no real step"),
    (dict(activation="softsign"), "activation must be one of"),
])
def test_bad_input_names_the_argument(bad, match):
    params, x, _ = make(np.random.default_rng(4))
    args = dict(x=x, state0=None, mask=None, activation="tanh") | bad
    with pytest.raises(ValueError, match=match):
        rnn.forward(args["x"], params, args["state0"], args["mask"], args["activation"])


def test_missing_or_misshapen_parameter_is_named():
    params, x, _ = make(np.random.default_rng(5))
    with pytest.raises(ValueError, match="params is missing W_h"):
        rnn.forward(x, {k: v for k, v in params.items() if k != "W_h"})
    with pytest.raises(ValueError, match=r"params\['b'\] must have shape \(6,\)"):
        rnn.forward(x, params | {"b": np.zeros(5)})
