"""GRU: naive per-gate reference, float64 gradient check, fast path == step loop, masks, bad input, float32."""

import numpy as np
import pytest

from unroll.nn import gradcheck, gru

T, N, D, H = 5, 3, 4, 6


def make(rng, dtype=np.float64):
    params = gru.init(D, H, rng, dtype)
    params["b"] = rng.uniform(-0.5, 0.5, 3 * H).astype(dtype)
    params["b_hn"] = rng.uniform(-0.5, 0.5, H).astype(dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype) * 0.5
    return params, x, h0


def naive_forward(x, params, h0):
    """Per example, per gate, with the seeds' separate matrices W_xr, W_hr, ... sliced out of the blocks."""
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    blocks = {gate: slice(k * H, (k + 1) * H) for k, gate in enumerate("rzn")}
    W_x = {gate: params["W_x"][:, s] for gate, s in blocks.items()}
    W_h = {gate: params["W_h"][:, s] for gate, s in blocks.items()}
    b = {gate: params["b"][s] for gate, s in blocks.items()}
    h, hs = h0, []
    for t in range(x.shape[0]):
        new_h = []
        for n in range(x.shape[1]):
            x_tn, h_n = x[t, n], h[n]
            r = sig(W_x["r"].T @ x_tn + W_h["r"].T @ h_n + b["r"])
            z = sig(W_x["z"].T @ x_tn + W_h["z"].T @ h_n + b["z"])
            cand = np.tanh(W_x["n"].T @ x_tn + b["n"] + r * (W_h["n"].T @ h_n + params["b_hn"]))
            new_h.append((1 - z) * h_n + z * cand)
        h = np.stack(new_h)
        hs.append(h)
    return np.stack(hs), h


def test_init_shapes_and_bounds():
    params = gru.init(D, H, np.random.default_rng(0), np.float32)
    assert {k: v.shape for k, v in params.items()} == {
        "W_x": (D, 3 * H), "W_h": (H, 3 * H), "b": (3 * H,), "b_hn": (H,)}
    assert all(v.dtype == np.float32 for v in params.values())
    assert all(np.abs(v).max() <= 1 / np.sqrt(H) for v in params.values())


def test_forward_matches_naive_per_gate_reference():
    params, x, h0 = make(np.random.default_rng(0))
    hs, hT, _ = gru.forward(x, params, h0)
    ref_hs, ref_hT = naive_forward(x, params, h0)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, ref_hT, rtol=1e-12, atol=1e-12)


def test_zero_initial_state_is_the_default():
    params, x, _ = make(np.random.default_rng(6))
    hs, hT, _ = gru.forward(x, params)
    hs0, hT0, _ = gru.forward(x, params, np.zeros((N, H)))
    assert np.array_equal(hs, hs0) and np.array_equal(hT, hT0)


@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_centred_differences(masked):
    rng = np.random.default_rng(1)
    params, x, h0 = make(rng)
    mask = np.array([[1, 1, 1]] * 2 + [[1, 0, 1]] * 2 + [[1, 0, 0]]) if masked else None
    G, GT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))

    def loss():
        hs, hT, _ = gru.forward(x, params, h0, mask)
        return gradcheck.contract((hs, hT), (G, GT))

    _, _, cache = gru.forward(x, params, h0, mask)
    dx, dh0, grads = gru.backward(G, cache, GT)
    errors = gradcheck.check(loss, {"x": x, "h0": h0, **params}, {"x": dx, "h0": dh0, **grads})
    assert max(errors.values()) < 1e-7, errors


def test_sequence_path_equals_step_loop():
    params, x, h0 = make(np.random.default_rng(2))
    hs, hT, _ = gru.forward(x, params, h0)
    h = h0
    for t in range(T):
        h = gru.step(x[t], params, h)
        np.testing.assert_allclose(hs[t], h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, h, rtol=1e-12, atol=1e-12)


def test_masked_batch_equals_each_sequence_alone():
    rng = np.random.default_rng(3)
    params, x, h0 = make(rng)
    lengths = [5, 2, 4]
    mask = (np.arange(T)[:, None] < np.array(lengths)[None, :]).astype(float)
    G = rng.standard_normal((T, N, H)) * mask[:, :, None]
    GT = rng.standard_normal((N, H))
    hs, hT, cache = gru.forward(x, params, h0, mask)
    dx, dh0, grads = gru.backward(G, cache, GT)
    total = {k: np.zeros_like(v) for k, v in grads.items()}
    for n, L in enumerate(lengths):
        hs_n, hT_n, cache_n = gru.forward(x[:L, n:n + 1], params, h0[n:n + 1])
        np.testing.assert_allclose(hs[:L, n:n + 1], hs_n, rtol=1e-12, atol=1e-12)
        assert np.all(hs[L:, n] == 0)
        np.testing.assert_allclose(hT[n:n + 1], hT_n, rtol=1e-12, atol=1e-12)
        dx_n, dh0_n, g_n = gru.backward(G[:L, n:n + 1], cache_n, GT[n:n + 1])
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
    (dict(state0=(np.zeros((3, 6)), np.zeros((3, 6)))), "state0 must be a numpy array of shape"),
    (dict(state0=np.zeros((3, 6), np.float32)), "state0 has dtype float32 but the parameters are float64"),
    (dict(mask=np.ones((4, 3))), r"mask must have shape \(T, N\) = \(5, 3\)"),
    (dict(mask=np.array([[1, 1, 1], [0, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]])), "mask column 0 is not a prefix"),
    (dict(mask=np.array([[1, 0, 1]] * 5)), "mask column 1 has no real step"),
])
def test_bad_input_names_the_argument(bad, match):
    params, x, _ = make(np.random.default_rng(4))
    args = dict(x=x, state0=None, mask=None) | bad
    with pytest.raises(ValueError, match=match):
        gru.forward(args["x"], params, args["state0"], args["mask"])


def test_missing_or_misshapen_parameter_is_named():
    params, x, _ = make(np.random.default_rng(5))
    with pytest.raises(ValueError, match="params is missing b_hn"):
        gru.forward(x, {k: v for k, v in params.items() if k != "b_hn"})
    with pytest.raises(ValueError, match=r"params\['b'\] must have shape \(18,\)"):
        gru.forward(x, params | {"b": np.zeros(6)})
    with pytest.raises(ValueError, match=r"params\['b_hn'\] must have shape \(6,\)"):
        gru.forward(x, params | {"b_hn": np.zeros(18)})


def test_bad_backward_arguments_are_named():
    params, x, h0 = make(np.random.default_rng(8))
    _, _, cache = gru.forward(x, params, h0)
    with pytest.raises(ValueError, match=r"dhs must have shape \(5, 3, 6\)"):
        gru.backward(np.zeros((5, 3, 5)), cache)
    with pytest.raises(ValueError, match=r"dstate must have shape \(3, 6\)"):
        gru.backward(np.zeros((5, 3, 6)), cache, np.zeros((2, 6)))


def test_float32_agrees_with_float64():
    params, x, h0 = make(np.random.default_rng(9))
    mask = (np.arange(T)[:, None] < np.array([5, 3, 1])[None, :])
    hs64, hT64, _ = gru.forward(x, params, h0, mask)
    as32 = lambda a: a.astype(np.float32)  # noqa: E731
    hs32, hT32, _ = gru.forward(as32(x), {k: as32(v) for k, v in params.items()}, as32(h0), mask)
    assert hs32.dtype == hT32.dtype == np.float32
    np.testing.assert_allclose(hs32, hs64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hT32, hT64, rtol=1e-5, atol=1e-6)
