"""Skip-through-time RNN: naive reference, float64 gradient check (one state or a window, with and without a
mask), step loop, continuation by the state window, reductions to the plain RNN, masks, bad input."""

import numpy as np
import pytest

from unroll.nn import gradcheck, rnn, skip

T, N, D, H = 7, 3, 4, 5
MASK = np.array([[1, 1, 1]] * 2 + [[1, 0, 1]] * 3 + [[1, 0, 0]] * 2)


def make(rng, d=3, dtype=np.float64):
    params = skip.init(D, H, rng, dtype)
    params["b"] = rng.uniform(-0.5, 0.5, H).astype(dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    window = rng.standard_normal((d, N, H)).astype(dtype) * 0.5
    return params, x, window


def naive_forward(x, params, window, d, activation):
    """h_t = f(W_xᵀ x_t + W_hᵀ h_{t-1} + W_skipᵀ h_{t-d} + b), one example and one step at a time."""
    f = np.tanh if activation == "tanh" else (lambda a: np.maximum(a, 0))
    hist = [window[i] for i in range(d)]                       # h_{1-d} .. h_0
    for t in range(x.shape[0]):
        hist.append(np.stack([f(params["W_x"].T @ x[t, n] + params["W_h"].T @ hist[-1][n]
                                + params["W_skip"].T @ hist[-d][n] + params["b"]) for n in range(x.shape[1])]))
    return np.stack(hist[d:]), np.stack(hist[-d:])


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("d", [1, 2, 3, 10])
def test_forward_matches_naive_reference(activation, d):
    params, x, window = make(np.random.default_rng(0), d)
    hs, state, _ = skip.forward(x, params, window, activation=activation, d=d)
    ref_hs, ref_state = naive_forward(x, params, window, d, activation)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(state, ref_state, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("state_form", ["window", "h0"])
def test_gradients_match_centred_differences(activation, masked, state_form):
    d = 3
    rng = np.random.default_rng(1)
    params, x, window = make(rng, d)
    s0 = window if state_form == "window" else window[-1].copy()
    mask = MASK if masked else None
    G, GS = rng.standard_normal((T, N, H)), rng.standard_normal((d, N, H))

    def loss():
        hs, state, _ = skip.forward(x, params, s0, mask, activation, d=d)
        return gradcheck.contract((hs, state), (G, GS))

    _, _, cache = skip.forward(x, params, s0, mask, activation, d=d)
    dx, ds0, grads = skip.backward(G, cache, GS)
    assert ds0.shape == s0.shape and set(grads) == set(params)
    errors = gradcheck.check(loss, {"x": x, "s0": s0, **params}, {"x": dx, "s0": ds0, **grads})
    assert max(errors.values()) < 1e-7, errors


def test_gradient_check_when_a_sequence_is_shorter_than_the_delay():
    """Length-1 and length-2 sequences with d = 4: their final windows reach back into state0."""
    d = 4
    rng = np.random.default_rng(2)
    params, x, window = make(rng, d)
    mask = np.array([[1, 1, 1]] + [[1, 1, 0]] + [[1, 0, 0]] * (T - 2))
    G, GS = rng.standard_normal((T, N, H)), rng.standard_normal((d, N, H))

    def loss():
        hs, state, _ = skip.forward(x, params, window, mask, d=d)
        return gradcheck.contract((hs, state), (G, GS))

    _, state, cache = skip.forward(x, params, window, mask, d=d)
    np.testing.assert_array_equal(state[:3, 2], window[1:, 2])  # length 1: h_{-2}, h_{-1}, h_0, then h_1
    dx, ds0, grads = skip.backward(G, cache, GS)
    errors = gradcheck.check(loss, {"x": x, "s0": window, **params}, {"x": dx, "s0": ds0, **grads})
    assert max(errors.values()) < 1e-7, errors


def test_sequence_path_equals_step_loop_and_continuation():
    d = 3
    params, x, window = make(np.random.default_rng(3), d)
    hs, state, _ = skip.forward(x, params, window, d=d)
    s = window
    for t in range(T):
        s = skip.step(x[t], params, s)
        np.testing.assert_allclose(hs[t], s[-1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(state, s, rtol=1e-12, atol=1e-12)
    hs1, s1, _ = skip.forward(x[:4], params, window, d=d)    # two calls chained by the window = one call
    hs2, s2, _ = skip.forward(x[4:], params, s1, d=d)
    np.testing.assert_allclose(np.concatenate([hs1, hs2]), hs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s2, state, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_reduces_to_the_plain_rnn(activation):
    """W_skip = 0 is the plain RNN; d = 1 is the plain RNN with W_h + W_skip (values and gradients)."""
    rng = np.random.default_rng(4)
    params, x, window = make(rng, 1)
    h0 = window[0]
    G = rng.standard_normal((T, N, H))
    for d, plain in [(3, params | {"W_skip": np.zeros((H, H))}), (1, params)]:
        hs, _, cache = skip.forward(x, plain, h0, MASK, activation, d=d)
        ref_params = {"W_x": plain["W_x"], "W_h": plain["W_h"] + (plain["W_skip"] if d == 1 else 0), "b": plain["b"]}
        ref_hs, _, ref_cache = rnn.forward(x, ref_params, h0, MASK, activation)
        np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)
        dx, dh0, grads = skip.backward(G, cache)
        ref_dx, ref_dh0, ref_grads = rnn.backward(G, ref_cache)
        np.testing.assert_allclose(dx, ref_dx, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(dh0, ref_dh0, rtol=1e-11, atol=1e-12)
        for k in ("W_x", "W_h", "b"):
            np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-11, atol=1e-12)


def test_masked_batch_equals_each_sequence_alone():
    d = 3
    rng = np.random.default_rng(5)
    params, x, window = make(rng, d)
    lengths = [7, 2, 5]
    mask = (np.arange(T)[:, None] < np.array(lengths)[None, :]).astype(float)
    G = rng.standard_normal((T, N, H)) * mask[:, :, None]
    GS = rng.standard_normal((d, N, H))
    hs, state, cache = skip.forward(x, params, window, mask, d=d)
    dx, ds0, grads = skip.backward(G, cache, GS)
    total = {k: np.zeros_like(v) for k, v in grads.items()}
    for n, L in enumerate(lengths):
        hs_n, state_n, cache_n = skip.forward(x[:L, n:n + 1], params, window[:, n:n + 1], d=d)
        np.testing.assert_allclose(hs[:L, n:n + 1], hs_n, rtol=1e-12, atol=1e-12)
        assert np.all(hs[L:, n] == 0)
        np.testing.assert_allclose(state[:, n:n + 1], state_n, rtol=1e-12, atol=1e-12)
        dx_n, ds0_n, g_n = skip.backward(G[:L, n:n + 1], cache_n, GS[:, n:n + 1])
        np.testing.assert_allclose(dx[:L, n:n + 1], dx_n, rtol=1e-11, atol=1e-12)
        assert np.all(dx[L:, n] == 0)
        np.testing.assert_allclose(ds0[:, n:n + 1], ds0_n, rtol=1e-11, atol=1e-12)
        for k in total:
            total[k] += g_n[k]
    for k in grads:
        np.testing.assert_allclose(grads[k], total[k], rtol=1e-10, atol=1e-12)


def test_skip_path_shortens_the_gradient_path():
    """With W_h = 0 only the skip path is left: h_T depends on h_0 through T/d Jacobians, and not at all
    when d does not divide T (with d = 5 the chain from h_12 lands on h_{-3} instead)."""
    rng = np.random.default_rng(6)
    params, _, _ = make(rng, 1)
    params = params | {"W_h": np.zeros((H, H)), "W_skip": np.eye(H) * 0.9, "b": np.zeros(H)}
    x = np.zeros((12, 1, D))
    grads = {}
    for d in (3, 5):
        _, _, cache = skip.forward(x, params, np.full((d, 1, H), 0.01), d=d)
        dGS = np.zeros((d, 1, H))
        dGS[-1] = 1.0
        _, ds0, _ = skip.backward(np.zeros((12, 1, H)), cache, dGS)
        grads[d] = ds0[-1, 0]                                  # ∂(Σ h_12)/∂h_0
    np.testing.assert_allclose(grads[3], 0.9 ** 4 * np.ones(H), rtol=1e-3)   # tanh' ≈ 1 near 0
    assert np.all(grads[5] == 0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(d=0), "d \\(the skip delay\\) must be an integer >= 1"),
    (dict(d=2.0), "d \\(the skip delay\\) must be an integer >= 1"),
    (dict(state0=np.zeros((2, 3, 5))), r"state0 must have shape \(3, 3, 5\)"),
    (dict(state0=np.zeros((2, 5))), r"state0 must have shape \(3, 5\)"),
    (dict(x=np.zeros((7, 3, 2))), r"x must have shape \(T, N, 4\)"),
    (dict(mask=np.ones((6, 3))), r"mask must have shape \(T, N\) = \(7, 3\)"),
])
def test_bad_input_names_the_argument(kwargs, match):
    params, x, _ = make(np.random.default_rng(7))
    args = dict(x=x, state0=None, mask=None, d=3) | kwargs
    with pytest.raises(ValueError, match=match):
        skip.forward(args["x"], params, args["state0"], args["mask"], d=args["d"])
    with pytest.raises(ValueError, match="params is missing W_skip"):
        skip.forward(x, {k: v for k, v in params.items() if k != "W_skip"})
