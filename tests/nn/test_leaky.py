"""Leaky-unit RNN: naive reference, float64 gradient check (learned and fixed α, with and without a mask),
step loop, α = 0 equals the plain RNN (and PyTorch's), masks, α stays in (0, 1), bad input."""

import numpy as np
import pytest
import torch

from unroll.nn import gradcheck, leaky, rnn

T, N, D, H = 5, 3, 4, 6
MASK = np.array([[1, 1, 1]] * 2 + [[1, 0, 1]] * 2 + [[1, 0, 0]])


def make(rng, dtype=np.float64, learn_alpha=True):
    params = leaky.init(D, H, rng, dtype, learn_alpha=learn_alpha)
    params["b"] = rng.uniform(-0.5, 0.5, H).astype(dtype)
    if learn_alpha:  # spread α over (0.1, 0.9) so the leak matters in every check
        params["a"] = rng.uniform(-2.0, 2.0, H).astype(dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype) * 0.5
    return params, x, h0


def naive_forward(x, params, h0, alpha, activation):
    f = np.tanh if activation == "tanh" else (lambda a: np.maximum(a, 0))
    h, hs = h0, []
    for t in range(x.shape[0]):
        rows = []
        for n in range(x.shape[1]):
            F = f(params["W_x"].T @ x[t, n] + params["W_h"].T @ h[n] + params["b"])
            rows.append(np.array([alpha[i] * h[n, i] + (1 - alpha[i]) * F[i] for i in range(H)]))
        h = np.stack(rows)
        hs.append(h)
    return np.stack(hs), h


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_forward_matches_naive_per_unit_reference(activation):
    params, x, h0 = make(np.random.default_rng(0))
    hs, hT, _ = leaky.forward(x, params, h0, activation=activation)
    alpha = 1.0 / (1.0 + np.exp(-params["a"]))
    ref_hs, ref_hT = naive_forward(x, params, h0, alpha, activation)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, ref_hT, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("learn_alpha", [True, False])
def test_gradients_match_centred_differences(activation, masked, learn_alpha):
    rng = np.random.default_rng(1)
    params, x, h0 = make(rng, learn_alpha=learn_alpha)
    alpha = None if learn_alpha else rng.uniform(0.1, 0.9, H)
    mask = MASK if masked else None
    G, GT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))

    def loss():
        hs, hT, _ = leaky.forward(x, params, h0, mask, activation, alpha=alpha)
        return gradcheck.contract((hs, hT), (G, GT))

    _, _, cache = leaky.forward(x, params, h0, mask, activation, alpha=alpha)
    dx, dh0, grads = leaky.backward(G, cache, GT)
    assert set(grads) == set(params)
    errors = gradcheck.check(loss, {"x": x, "h0": h0, **params}, {"x": dx, "h0": dh0, **grads})
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("learn_alpha", [True, False])
def test_sequence_path_equals_step_loop(learn_alpha):
    rng = np.random.default_rng(2)
    params, x, h0 = make(rng, learn_alpha=learn_alpha)
    alpha = None if learn_alpha else leaky.sample_alpha(H, rng, dtype=np.float64)
    hs, hT, _ = leaky.forward(x, params, h0, alpha=alpha)
    h = h0
    for t in range(T):
        h = leaky.step(x[t], params, h, alpha=alpha)
        np.testing.assert_allclose(hs[t], h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_alpha_zero_is_the_plain_rnn_forward_and_backward(activation):
    rng = np.random.default_rng(3)
    params, x, h0 = make(rng, learn_alpha=False)
    hs, hT, cache = leaky.forward(x, params, h0, MASK, activation, alpha=0.0)
    ref_hs, ref_hT, ref_cache = rnn.forward(x, params, h0, MASK, activation)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(hT, ref_hT, rtol=1e-13, atol=1e-13)
    G, GT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    dx, dh0, grads = leaky.backward(G, cache, GT)
    ref_dx, ref_dh0, ref_grads = rnn.backward(G, ref_cache, GT)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dh0, ref_dh0, rtol=1e-12, atol=1e-13)
    for k in ref_grads:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-12, atol=1e-13)


def test_alpha_zero_matches_torch_rnn():
    rng = np.random.default_rng(4)
    params, x, h0 = make(rng, learn_alpha=False)
    net = torch.nn.RNN(D, H, nonlinearity="tanh").double()
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(params["W_x"].T.copy()))
        net.weight_hh_l0.copy_(torch.from_numpy(params["W_h"].T.copy()))
        net.bias_ih_l0.copy_(torch.from_numpy(params["b"]))
        net.bias_hh_l0.zero_()
    xt = torch.from_numpy(x).requires_grad_()
    out, hn = net(xt, torch.from_numpy(h0)[None])
    hs, hT, cache = leaky.forward(x, params, h0, alpha=0.0)
    np.testing.assert_allclose(hs, out.detach().numpy(), rtol=1e-12, atol=1e-12)
    G = rng.standard_normal((T, N, H))
    (out * torch.from_numpy(G)).sum().backward()
    dx, _, grads = leaky.backward(G, cache)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["W_h"], net.weight_hh_l0.grad.numpy().T, rtol=1e-10, atol=1e-12)


def test_masked_batch_equals_each_sequence_alone():
    rng = np.random.default_rng(5)
    params, x, h0 = make(rng)
    lengths = [5, 2, 4]
    mask = (np.arange(T)[:, None] < np.array(lengths)[None, :]).astype(float)
    G = rng.standard_normal((T, N, H)) * mask[:, :, None]
    GT = rng.standard_normal((N, H))
    hs, hT, cache = leaky.forward(x, params, h0, mask)
    dx, dh0, grads = leaky.backward(G, cache, GT)
    total = {k: np.zeros_like(v) for k, v in grads.items()}
    for n, L in enumerate(lengths):
        hs_n, hT_n, cache_n = leaky.forward(x[:L, n:n + 1], params, h0[n:n + 1])
        np.testing.assert_allclose(hs[:L, n:n + 1], hs_n, rtol=1e-12, atol=1e-12)
        assert np.all(hs[L:, n] == 0)
        np.testing.assert_allclose(hT[n:n + 1], hT_n, rtol=1e-12, atol=1e-12)
        dx_n, dh0_n, g_n = leaky.backward(G[:L, n:n + 1], cache_n, GT[n:n + 1])
        np.testing.assert_allclose(dx[:L, n:n + 1], dx_n, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(dh0[n:n + 1], dh0_n, rtol=1e-11, atol=1e-12)
        for k in total:
            total[k] += g_n[k]
    for k in grads:
        np.testing.assert_allclose(grads[k], total[k], rtol=1e-10, atol=1e-12)


def test_init_samples_alpha_from_the_seed_range_and_sigmoid_keeps_it_inside():
    params = leaky.init(3, 1000, np.random.default_rng(6), np.float64)
    alpha = leaky.alpha_of(params)
    assert 0.02 <= alpha.min() and alpha.max() <= 0.2
    assert abs(alpha.mean() - 0.11) < 0.005                    # U(0.02, 0.2) has mean 0.11
    chosen = np.array([0.02, 0.1, 0.5, 0.9, 0.98])            # α set through its logit log(α / (1 - α))
    few = leaky.init(3, 5, np.random.default_rng(6), np.float64) | {"a": np.log(chosen / (1 - chosen))}
    np.testing.assert_allclose(leaky.alpha_of(few), chosen, rtol=1e-12)
    np.testing.assert_array_equal(leaky.alpha_of(leaky.init(3, 5, np.random.default_rng(6), learn_alpha=False),
                                                 alpha=0.25), np.full(5, 0.25))
    extreme = params | {"a": np.linspace(-50, 50, 1000)}     # any logit gives an α in (0, 1) or at the float ends
    assert np.all((leaky.alpha_of(extreme) >= 0) & (leaky.alpha_of(extreme) <= 1))
    fixed = leaky.init(3, 8, np.random.default_rng(6), learn_alpha=False)
    assert "a" not in fixed


def test_large_alpha_carries_the_gradient_further_back():
    """The leak's point: with α near 1 the gradient of h_T w.r.t. h_0 decays far more slowly."""
    rng = np.random.default_rng(7)
    params, _, h0 = make(rng, learn_alpha=False)
    x = rng.standard_normal((40, N, D))
    norms = {}
    for a in (0.0, 0.95):
        _, _, cache = leaky.forward(x, params, h0, alpha=a)
        _, dh0, _ = leaky.backward(np.zeros((40, N, H)), cache, np.ones((N, H)))
        norms[a] = np.linalg.norm(dh0)
    assert norms[0.95] > 1e3 * norms[0.0], norms


@pytest.mark.parametrize("kwargs, match", [
    (dict(alpha=0.5), "alpha= is for a fixed leak"),
    (dict(params_drop_a=True), "needs its leak"),
    (dict(params_drop_a=True, alpha=1.5), r"alpha must lie in \[0, 1\]"),
    (dict(params_drop_a=True, alpha=np.full(5, 0.5)), r"alpha must have shape \(6,\)"),
    (dict(x=np.zeros((5, 3, 7))), r"x must have shape \(T, N, 4\)"),
    (dict(state0=np.zeros((2, 6))), r"state0 must have shape \(3, 6\)"),
])
def test_bad_input_names_the_argument(kwargs, match):
    params, x, _ = make(np.random.default_rng(8))
    if kwargs.pop("params_drop_a", False):
        params = {k: v for k, v in params.items() if k != "a"}
    args = dict(x=x, state0=None, alpha=None) | kwargs
    with pytest.raises(ValueError, match=match):
        leaky.forward(args["x"], params, args["state0"], alpha=args["alpha"])


def test_runs_inside_a_stack_once_registered(monkeypatch):
    """stack.register_cell("leaky", "unroll.nn.leaky", 1, ("activation", "alpha")) is all a Stack needs
    (registered here through monkeypatch so the global registry is restored after the test)."""
    from unroll.nn import stack
    monkeypatch.setitem(stack.CELLS, "leaky", stack.CellKind("unroll.nn.leaky", 1, ("activation", "alpha")))
    rng = np.random.default_rng(9)
    net = stack.Stack("leaky", D, H, num_layers=2)
    params = net.init(rng, np.float64)
    x = rng.standard_normal((T, N, D))
    hs, state, cache = net.forward(x, params, mask=MASK)
    cell = lambda l: {k.split(".", 2)[2]: v for k, v in params.items() if k.startswith(f"layer{l}.")}  # noqa: E731
    h1, s1, _ = leaky.forward(x, cell(0), None, MASK)
    h2, s2, _ = leaky.forward(h1, cell(1), None, MASK)
    np.testing.assert_allclose(hs, h2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(state, np.stack([s1, s2]), rtol=1e-12, atol=1e-12)
    _, _, grads = net.backward(rng.standard_normal(hs.shape), cache)
    assert grads["layer1.leaky.a"].shape == (H,)
