"""LSTM: naive per-gate reference, float64 gradient check, fast path == step loop, masks, bad input, float32."""

import numpy as np
import pytest

from unroll.nn import gradcheck, lstm

T, N, D, H = 5, 3, 4, 6


def make(rng, dtype=np.float64):
    params = lstm.init(D, H, rng, dtype)
    params["b"] = rng.uniform(-0.5, 0.5, 4 * H).astype(dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype) * 0.5
    c0 = rng.standard_normal((N, H)).astype(dtype) * 0.5
    return params, x, h0, c0


def naive_forward(x, params, h0, c0):
    """Per example, per gate, with the seeds' separate matrices W_xi, W_hi, ... sliced out of the blocks."""
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    blocks = {gate: slice(k * H, (k + 1) * H) for k, gate in enumerate("ifgo")}
    W_x = {gate: params["W_x"][:, s] for gate, s in blocks.items()}
    W_h = {gate: params["W_h"][:, s] for gate, s in blocks.items()}
    b = {gate: params["b"][s] for gate, s in blocks.items()}
    h, c, hs = h0, c0, []
    for t in range(x.shape[0]):
        new_h, new_c = [], []
        for n in range(x.shape[1]):
            pre = {gate: W_x[gate].T @ x[t, n] + W_h[gate].T @ h[n] + b[gate] for gate in "ifgo"}
            i, f, g, o = sig(pre["i"]), sig(pre["f"]), np.tanh(pre["g"]), sig(pre["o"])
            new_c.append(f * c[n] + i * g)
            new_h.append(o * np.tanh(new_c[-1]))
        h, c = np.stack(new_h), np.stack(new_c)
        hs.append(h)
    return np.stack(hs), h, c


def test_init_shapes_bounds_and_forget_bias():
    params = lstm.init(D, H, np.random.default_rng(0), np.float32)
    assert {k: v.shape for k, v in params.items()} == {"W_x": (D, 4 * H), "W_h": (H, 4 * H), "b": (4 * H,)}
    assert all(v.dtype == np.float32 for v in params.values())
    assert np.all(params["b"][H:2 * H] == 1.0)
    bound = 1 / np.sqrt(H)
    for k in ("W_x", "W_h"):
        assert np.abs(params[k]).max() <= bound
    assert np.abs(np.delete(params["b"], np.s_[H:2 * H])).max() <= bound


def test_forward_matches_naive_per_gate_reference():
    params, x, h0, c0 = make(np.random.default_rng(0))
    hs, (hT, cT), _ = lstm.forward(x, params, (h0, c0))
    ref_hs, ref_hT, ref_cT = naive_forward(x, params, h0, c0)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, ref_hT, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cT, ref_cT, rtol=1e-12, atol=1e-12)


def test_zero_initial_state_is_the_default():
    params, x, _, _ = make(np.random.default_rng(6))
    zeros = np.zeros((N, H))
    hs, (hT, cT), _ = lstm.forward(x, params)
    hs0, (hT0, cT0), _ = lstm.forward(x, params, (zeros, zeros))
    assert np.array_equal(hs, hs0) and np.array_equal(hT, hT0) and np.array_equal(cT, cT0)


@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_centred_differences(masked):
    rng = np.random.default_rng(1)
    params, x, h0, c0 = make(rng)
    mask = np.array([[1, 1, 1]] * 2 + [[1, 0, 1]] * 2 + [[1, 0, 0]]) if masked else None
    G, GhT, GcT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))

    def loss():
        hs, (hT, cT), _ = lstm.forward(x, params, (h0, c0), mask)
        return gradcheck.contract((hs, hT, cT), (G, GhT, GcT))

    _, _, cache = lstm.forward(x, params, (h0, c0), mask)
    dx, (dh0, dc0), grads = lstm.backward(G, cache, (GhT, GcT))
    errors = gradcheck.check(loss, {"x": x, "h0": h0, "c0": c0, **params},
                             {"x": dx, "h0": dh0, "c0": dc0, **grads})
    assert max(errors.values()) < 1e-7, errors


def test_none_in_dstate_means_zero():
    rng = np.random.default_rng(7)
    params, x, h0, c0 = make(rng)
    G, GhT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    _, _, cache = lstm.forward(x, params, (h0, c0))
    a = lstm.backward(G, cache, (GhT, None))
    b = lstm.backward(G, cache, (GhT, np.zeros((N, H))))
    assert np.array_equal(a[0], b[0]) and all(np.array_equal(p, q) for p, q in zip(a[1], b[1]))
    assert all(np.array_equal(a[2][k], b[2][k]) for k in params)


def test_sequence_path_equals_step_loop():
    params, x, h0, c0 = make(np.random.default_rng(2))
    hs, (hT, cT), _ = lstm.forward(x, params, (h0, c0))
    h, c = h0, c0
    for t in range(T):
        h, c = lstm.step(x[t], params, (h, c))
        np.testing.assert_allclose(hs[t], h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cT, c, rtol=1e-12, atol=1e-12)


def test_masked_batch_equals_each_sequence_alone():
    rng = np.random.default_rng(3)
    params, x, h0, c0 = make(rng)
    lengths = [5, 2, 4]
    mask = (np.arange(T)[:, None] < np.array(lengths)[None, :]).astype(float)
    G = rng.standard_normal((T, N, H)) * mask[:, :, None]
    GhT, GcT = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    hs, (hT, cT), cache = lstm.forward(x, params, (h0, c0), mask)
    dx, (dh0, dc0), grads = lstm.backward(G, cache, (GhT, GcT))
    total = {k: np.zeros_like(v) for k, v in grads.items()}
    for n, L in enumerate(lengths):
        one = slice(n, n + 1)
        hs_n, (hT_n, cT_n), cache_n = lstm.forward(x[:L, one], params, (h0[one], c0[one]))
        np.testing.assert_allclose(hs[:L, one], hs_n, rtol=1e-12, atol=1e-12)
        assert np.all(hs[L:, n] == 0)
        np.testing.assert_allclose(hT[one], hT_n, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cT[one], cT_n, rtol=1e-12, atol=1e-12)
        dx_n, (dh0_n, dc0_n), g_n = lstm.backward(G[:L, one], cache_n, (GhT[one], GcT[one]))
        np.testing.assert_allclose(dx[:L, one], dx_n, rtol=1e-11, atol=1e-12)
        assert np.all(dx[L:, n] == 0)
        np.testing.assert_allclose(dh0[one], dh0_n, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(dc0[one], dc0_n, rtol=1e-11, atol=1e-12)
        for k in total:
            total[k] += g_n[k]
    for k in grads:
        np.testing.assert_allclose(grads[k], total[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bad, match", [
    (dict(x=np.zeros((5, 3))), r"x must have shape \(T, N, 4\)"),
    (dict(x=np.zeros((5, 3, 7))), r"x must have shape \(T, N, 4\)"),
    (dict(x=np.zeros((5, 3, 4), np.float32)), "x has dtype float32 but the parameters are float64"),
    (dict(x=np.zeros((5, 3, 4), np.int64)), "x must be float32 or float64"),
    (dict(state0=np.zeros((3, 6))), r"state0 must be a tuple \(h0, c0\) of arrays \(N, H\) = \(3, 6\)"),
    (dict(state0=[np.zeros((3, 6))] * 2), r"state0 must be a tuple \(h0, c0\)"),
    (dict(state0=(np.zeros((3, 6)),)), r"state0 must be a tuple \(h0, c0\)"),
    (dict(state0=(np.zeros((2, 6)), np.zeros((3, 6)))), r"state0\[0\] \(h0\) must have shape \(3, 6\)"),
    (dict(state0=(np.zeros((3, 6)), np.zeros((3, 5)))), r"state0\[1\] \(c0\) must have shape \(3, 6\)"),
    (dict(state0=(np.zeros((3, 6)), np.zeros((3, 6), np.float32))), r"state0\[1\] \(c0\) has dtype float32"),
    (dict(mask=np.ones((4, 3))), r"mask must have shape \(T, N\) = \(5, 3\)"),
    (dict(mask=np.array([[1, 1, 1], [0, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]])), "mask column 0 is not a prefix"),
    (dict(mask=np.array([[1, 0, 1]] * 5)), "mask column 1 has no real step"),
])
def test_bad_input_names_the_argument(bad, match):
    params, x, _, _ = make(np.random.default_rng(4))
    args = dict(x=x, state0=None, mask=None) | bad
    with pytest.raises(ValueError, match=match):
        lstm.forward(args["x"], params, args["state0"], args["mask"])


def test_missing_or_misshapen_parameter_is_named():
    params, x, _, _ = make(np.random.default_rng(5))
    with pytest.raises(ValueError, match="params is missing W_h"):
        lstm.forward(x, {k: v for k, v in params.items() if k != "W_h"})
    with pytest.raises(ValueError, match=r"params\['b'\] must have shape \(24,\)"):
        lstm.forward(x, params | {"b": np.zeros(6)})
    with pytest.raises(ValueError, match=r"params\['W_h'\] must have shape \(6, 24\)"):
        lstm.forward(x, params | {"W_h": np.zeros((6, 18))})


def test_bad_backward_arguments_are_named():
    params, x, h0, c0 = make(np.random.default_rng(8))
    _, _, cache = lstm.forward(x, params, (h0, c0))
    with pytest.raises(ValueError, match=r"dhs must have shape \(5, 3, 6\)"):
        lstm.backward(np.zeros((5, 3, 5)), cache)
    with pytest.raises(ValueError, match=r"dstate must be None or a tuple \(dh_T, dc_T\)"):
        lstm.backward(np.zeros((5, 3, 6)), cache, np.zeros((3, 6)))
    with pytest.raises(ValueError, match=r"dstate\[1\] \(dc_T\) must have shape \(3, 6\)"):
        lstm.backward(np.zeros((5, 3, 6)), cache, (None, np.zeros((2, 6))))


def test_float32_agrees_with_float64():
    params, x, h0, c0 = make(np.random.default_rng(9))
    mask = (np.arange(T)[:, None] < np.array([5, 3, 1])[None, :])
    hs64, (hT64, cT64), _ = lstm.forward(x, params, (h0, c0), mask)
    as32 = lambda a: a.astype(np.float32)  # noqa: E731
    hs32, (hT32, cT32), _ = lstm.forward(as32(x), {k: as32(v) for k, v in params.items()},
                                         (as32(h0), as32(c0)), mask)
    assert hs32.dtype == hT32.dtype == cT32.dtype == np.float32
    for a32, a64 in [(hs32, hs64), (hT32, hT64), (cT32, cT64)]:
        np.testing.assert_allclose(a32, a64, rtol=1e-5, atol=1e-6)
