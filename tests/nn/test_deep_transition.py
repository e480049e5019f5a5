"""Deep-transition RNN (seed 004): naive per-layer reference, float64 gradient check of every input and
parameter (depths 2 and 3, with and without the shortcut, with and without a mask), depth 1 == the plain RNN
step, step loop, masked batch == each sequence alone, and the measured shortest path through time."""

import math

import numpy as np
import pytest

from unroll.analysis.paths import shortest_path_length
from unroll.nn import deep_transition as dt
from unroll.nn import gradcheck, rnn

T, N, D, H = 5, 3, 4, 3
MASK = np.array([[1, 1, 1]] * 2 + [[1, 0, 1]] * 2 + [[1, 0, 0]])


def make(rng, depth=2, shortcut=False):
    params = dt.init(D, H, rng, np.float64, depth=depth, shortcut=shortcut)
    for k in params:
        if k.startswith("b"):
            params[k] = rng.uniform(-0.5, 0.5, H)
    return params, rng.standard_normal((T, N, D)), 0.5 * rng.standard_normal((N, H))


def naive_forward(x, params, h0, depth, shortcut, f=np.tanh):
    h, hs = h0, []
    for t in range(x.shape[0]):
        rows = []
        for n in range(x.shape[1]):
            z = f(params["W_x"].T @ x[t, n] + params["W_h"].T @ h[n] + params["b"])
            for j in range(1, depth):
                a = params[f"W_{j}"].T @ z + params[f"b_{j}"]
                z = f(a + params["W_s"].T @ h[n] if shortcut and j == depth - 1 else a)
            rows.append(z)
        h = np.stack(rows)
        hs.append(h)
    return np.stack(hs), h


@pytest.mark.parametrize("depth, shortcut", [(2, False), (3, False), (2, True), (3, True)])
def test_forward_matches_naive_per_layer_reference(depth, shortcut):
    params, x, h0 = make(np.random.default_rng(0), depth, shortcut)
    hs, hT, _ = dt.forward(x, params, h0)
    ref_hs, ref_hT = naive_forward(x, params, h0, depth, shortcut)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, ref_hT, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("depth, shortcut", [(2, False), (3, False), (3, True)])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_gradients_match_centred_differences(depth, shortcut, masked, activation):
    rng = np.random.default_rng(1)
    params, x, h0 = make(rng, depth, shortcut)
    mask = MASK if masked else None
    G, GT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))

    def loss():
        hs, hT, _ = dt.forward(x, params, h0, mask, activation)
        return gradcheck.contract((hs, hT), (G, GT))

    _, _, cache = dt.forward(x, params, h0, mask, activation)
    dx, dh0, grads = dt.backward(G, cache, GT)
    assert set(grads) == set(params)
    errors = gradcheck.check(loss, {"x": x, "h0": h0, **params}, {"x": dx, "h0": dh0, **grads})
    assert max(errors.values()) < 1e-7, errors


def test_identity_upper_layers_reduce_to_the_plain_rnn():
    """relu(relu(a)) = relu(a), so with W_1 = I and b_1 = 0 a depth-2 relu transition is the plain relu RNN,
    forward and backward."""
    rng = np.random.default_rng(2)
    params, x, h0 = make(rng, depth=2)
    params["W_1"], params["b_1"] = np.eye(H), np.zeros(H)
    hs, hT, cache = dt.forward(x, params, h0, MASK, "relu")
    plain = {k: params[k] for k in ("W_x", "W_h", "b")}
    ref_hs, ref_hT, ref_cache = rnn.forward(x, plain, h0, MASK, "relu")
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-13, atol=1e-14)
    G = rng.standard_normal((T, N, H))
    dx, dh0, grads = dt.backward(G, cache)
    ref_dx, ref_dh0, ref_grads = rnn.backward(G, ref_cache)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dh0, ref_dh0, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(grads["W_h"], ref_grads["W_h"], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("shortcut", [False, True])
def test_sequence_path_equals_step_loop(shortcut):
    params, x, h0 = make(np.random.default_rng(3), 3, shortcut)
    hs, hT, _ = dt.forward(x, params, h0)
    h = h0
    for t in range(T):
        h = dt.step(x[t], params, h)
        np.testing.assert_allclose(h, hs[t], rtol=1e-13, atol=1e-14)


def test_masked_batch_equals_each_sequence_alone():
    params, x, h0 = make(np.random.default_rng(4), 3, True)
    hs, hT, _ = dt.forward(x, params, h0, MASK)
    for n, length in enumerate(MASK.sum(axis=0)):
        alone, last, _ = dt.forward(x[:length, n:n + 1], params, h0[n:n + 1])
        np.testing.assert_allclose(hs[:length, n], alone[:, 0], rtol=1e-13, atol=1e-14)
        np.testing.assert_array_equal(hs[length:, n], 0.0)
        np.testing.assert_allclose(hT[n], last[0], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_deeper_transition_lengthens_the_shortest_path_and_the_shortcut_shortens_it(k):
    """Seed 004's remark, measured: L·k weight matrices from h_{t-k} to h_t with depth L, k with the shortcut
    (skip connection), k for the plain RNN (order in ε of ‖∂h_t/∂h_{t-k}‖ with every matrix ε·I)."""
    assert shortest_path_length("rnn", k) == pytest.approx(k, abs=1e-3)
    for depth in (2, 3):
        assert shortest_path_length("deep_transition", k, {"depth": depth}) == pytest.approx(depth * k, abs=1e-3)
        assert shortest_path_length("deep_transition", k, {"depth": depth, "shortcut": True}) == pytest.approx(
            k, abs=1e-3 * k)


def test_skip_connections_shorten_the_path_and_only_skip_removes_the_short_ones():
    assert shortest_path_length("skip", 8, {"d": 4}) == pytest.approx(2, abs=1e-3)        # two skips
    assert shortest_path_length("skip", 6, {"d": 4}) == pytest.approx(3, abs=1e-3)        # skip + 2 single steps
    assert shortest_path_length("skip", 8, {"d": 4, "only_skip": True}) == pytest.approx(2, abs=1e-3)
    assert math.isinf(shortest_path_length("skip", 6, {"d": 4, "only_skip": True}))      # no path at all
    assert shortest_path_length("leaky", 8, {"alpha": 0.5}) < 0.05                          # α h_{t-1}: no matrix


def test_gradient_reach_shrinks_with_depth_on_tanh_units():
    """The same effect on an ordinary tanh network: ‖∂h_T/∂h_0‖ with default init, averaged over seeds,
    falls with the transition depth and recovers with the shortcut."""
    def reach(depth, shortcut):
        norms = []
        for seed in range(8):
            rng = np.random.default_rng(seed)
            params = dt.init(D, 8, rng, np.float64, depth=depth, shortcut=shortcut) if depth > 1 else \
                rnn.init(D, 8, rng, np.float64)
            x = rng.standard_normal((20, 4, D))
            module = dt if depth > 1 else rnn
            _, hT, cache = module.forward(x, params)
            _, dh0, _ = module.backward(np.zeros((20, 4, 8)), cache, np.ones_like(hT))
            norms.append(np.linalg.norm(dh0))
        return float(np.mean(norms))
    assert reach(3, False) < reach(2, False) < reach(1, False)
    assert reach(3, True) > 10 * reach(3, False)


@pytest.mark.parametrize("bad, match", [
    (dict(params={"W_x": np.zeros((D, H)), "W_h": np.zeros((H, H)), "b": np.zeros(H)}), "params hold no W_1"),
    (dict(x=np.zeros((T, N, D + 1))), r"x must have shape \(T, N, 4\)"),
    (dict(state0=np.zeros((N + 1, H))), r"state0 must have shape \(3, 3\)"),
])
def test_bad_input_names_the_argument(bad, match):
    params, x, _ = make(np.random.default_rng(5))
    args = dict(x=x, params=params, state0=None) | bad
    with pytest.raises(ValueError, match=match):
        dt.forward(args["x"], args["params"], args["state0"])


@pytest.mark.parametrize("options, match", [({"depth": 1}, "depth .* must be an integer >= 2, got 1"),
                                            ({"shortcut": 1}, "shortcut must be True or False")])
def test_bad_options_are_named(options, match):
    with pytest.raises(ValueError, match=match):
        dt.init(D, H, np.random.default_rng(0), **options)
