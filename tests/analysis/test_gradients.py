"""Gradient-flow diagnostics checked numerically: Jacobian products against matrix powers and finite
differences, ‖∂L_T/∂h_k‖ against finite differences for every cell, the seeds' bound, clipping, gates."""

import numpy as np
import pytest

from unroll.analysis import gradients as G
from unroll.nn import gradcheck, gru, leaky, lstm, ops, rnn, skip
from unroll.train import optim

T, N, D, H = 12, 3, 4, 5


def data(rng, T=T, N=N):
    return rng.standard_normal((T, N, D))


def params_for(cell, rng):
    module = G.cell_module(cell)
    return module.init(D, H, rng, np.float64)


OPTIONS = {"rnn": {"activation": "tanh"}, "leaky": {}, "skip": {"d": 3}, "lstm": {}, "gru": {}}


def test_linear_rnn_jacobian_product_is_the_matrix_power_of_W_h_transposed():
    """A ReLU RNN whose weights, inputs and state are all positive never leaves the linear regime:
    h_t = h_{t-1} W_h + x_t W_x + b exactly, so ∂h_T/∂h_k = (W_hᵀ)^{T-k} (row-vector convention)."""
    rng = np.random.default_rng(0)
    params = {"W_x": rng.uniform(0, 0.3, (D, H)), "W_h": rng.uniform(0, 0.4, (H, H)), "b": rng.uniform(0.1, 0.2, H)}
    x = rng.uniform(0, 1, (T, N, D))
    hs, _, _ = rnn.forward(x, params, activation="relu")
    assert hs.min() > 0                                        # linear throughout
    Ps = G.jacobian_products("rnn", params, x, example=1, activation="relu")
    for k in range(T + 1):
        np.testing.assert_allclose(Ps[k], np.linalg.matrix_power(params["W_h"].T, T - k), rtol=1e-12, atol=1e-15)
    assert not np.allclose(Ps[0], Ps[0].T)                     # the transpose matters


def test_tanh_rnn_with_tiny_inputs_is_linear_to_first_order():
    rng = np.random.default_rng(1)
    params = rnn.init(D, H, rng, np.float64) | {"b": np.zeros(H)}
    x = 1e-5 * data(rng)
    Ps = G.jacobian_products("rnn", params, x)
    for k in range(T + 1):
        np.testing.assert_allclose(Ps[k], np.linalg.matrix_power(params["W_h"].T, T - k), rtol=1e-8, atol=1e-12)


def test_tanh_jacobian_product_equals_the_product_of_one_step_jacobians():
    """∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hᵀ, multiplied from t = T down to k + 1."""
    rng = np.random.default_rng(2)
    params = rnn.init(D, H, rng, np.float64)
    params["W_h"] *= 3.0
    x = data(rng)
    hs, _, _ = rnn.forward(x[:, :1], params)
    Ps = G.jacobian_products("rnn", params, x)
    P = np.eye(H)
    for k in reversed(range(T)):                               # k = T-1 .. 0: P = ∂h_T/∂h_k
        P = P @ (np.diag(1 - hs[k, 0] ** 2) @ params["W_h"].T)
        np.testing.assert_allclose(Ps[k], P, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", ["rnn", "leaky", "skip", "lstm", "gru"])
def test_jacobian_product_matches_finite_differences(cell):
    rng = np.random.default_rng(3)
    params, x = params_for(cell, rng), data(rng, T=6)
    module, opts = G.cell_module(cell), OPTIONS[cell]
    ss = G.states(cell, params, x[:, :1], **opts)
    Ps = G.jacobian_products(cell, params, x, **opts)
    for k in (0, 3, 5):
        flat = G._flatten(ss[k]).copy()

        def final(v):
            _, s, _ = module.forward(x[k:, :1], params, G._unflatten(v[None], ss[k]), None, **opts)
            return G._flatten(s)[0]

        numeric = np.stack([(final(flat[0] + 1e-6 * e) - final(flat[0] - 1e-6 * e)) / 2e-6
                            for e in np.eye(flat.shape[1])], axis=1)
        assert gradcheck.relative_error(numeric, Ps[k]) < 1e-7


@pytest.mark.parametrize("cell", ["rnn", "leaky", "skip", "lstm", "gru"])
def test_loss_reach_matches_finite_differences(cell):
    """L = Σ Gout ⊙ h_T; ∂L/∂h_k perturbs h_k (only the h part of the state) and reruns steps k+1..T."""
    rng = np.random.default_rng(4)
    params, x = params_for(cell, rng), 0.3 * data(rng)
    params["W_h"] = 3.0 * params["W_h"]                        # keep ∂L/∂h_0 well above rounding noise
    module, opts = G.cell_module(cell), OPTIONS[cell]
    Gout = rng.standard_normal((N, H))
    ss = G.states(cell, params, x, **opts)
    last = ss[-1]
    dstate = (Gout, np.zeros((N, H))) if isinstance(last, tuple) else (
        np.concatenate([np.zeros((last.shape[0] - 1, N, H)), Gout[None]]) if last.ndim == 3 else Gout)
    grads = G.state_gradients(cell, params, x, dstate, **opts)
    reach = G.loss_reach(cell, params, x, dstate, **opts)
    for k in (0, 1, 6, T - 1):
        s_k = ss[k]
        h_k = G._h_part(s_k).copy()

        def loss():
            if isinstance(s_k, tuple):
                s = (h_k, s_k[1])
            else:
                s = np.concatenate([s_k[:-1], h_k[None]]) if s_k.ndim == 3 else h_k
            _, sT, _ = module.forward(x[k:], params, s, None, **opts)
            return float(np.sum(G._h_part(sT) * Gout))

        numeric = gradcheck.numeric_gradient(loss, h_k)
        assert gradcheck.relative_error(numeric, G._h_part(grads[k])) < 1e-7
        assert reach["h"][T - k] == pytest.approx(np.linalg.norm(numeric), rel=1e-7)
    assert reach["distance"][0] == 0 and len(reach["h"]) == T + 1
    if cell == "lstm":
        assert "c" in reach and reach["c"][0] == 0.0           # ∂L/∂c_T = 0 when L reads h_T only


def test_gradient_at_h0_equals_the_full_backward_pass():
    rng = np.random.default_rng(5)
    params, x = params_for("lstm", rng), data(rng)
    dstate = (rng.standard_normal((N, H)), rng.standard_normal((N, H)))
    _, _, cache = lstm.forward(x, params)
    _, d0, _ = lstm.backward(np.zeros((T, N, H)), cache, dstate)
    g0 = G.state_gradients("lstm", params, x, dstate)[0]
    np.testing.assert_allclose(g0[0], d0[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g0[1], d0[1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_seeds_bound_holds_for_the_tanh_rnn(scale):
    rng = np.random.default_rng(6)
    params = rnn.init(D, H, rng, np.float64)
    params["W_h"] = scale * G.spectral_norm(params["W_h"]) ** -1 * params["W_h"]   # σ_max(W_h) = scale
    x = data(rng, T=40)
    norms = G.jacobian_norms("rnn", params, x, examples=3)
    bound = G.seeds_bound(params, norms["distance"])
    assert G.spectral_norm(params["W_h"]) == pytest.approx(scale)
    np.testing.assert_allclose(bound, scale ** np.arange(41))
    assert np.all(norms["per_example"] <= bound * (1 + 1e-12))
    if scale == 0.5:                                           # vanishing: below 1e-9 after 40 steps
        assert norms["mean"][-1] < 1e-9


def test_seeds_bound_is_attained_by_an_orthogonal_linear_recurrence():
    """W_h orthogonal, linear regime: ‖(W_hᵀ)^k‖ = 1 = (β_W β_h)^k for every k."""
    from unroll.nn import init
    rng = np.random.default_rng(7)
    params = init.orthogonal({"W_x": np.zeros((D, H)), "W_h": np.zeros((H, H)), "b": np.zeros(H)}, rng)
    x = 1e-7 * data(rng)
    norms = G.jacobian_norms("rnn", params, x, examples=2)
    np.testing.assert_allclose(norms["mean"], G.seeds_bound(params, norms["distance"]), rtol=1e-9)


def logit(p):
    return np.log(p / (1.0 - p))


def test_seeds_bound_with_leaky_units_hand_worked():
    """α = (0.1, 0.2, 0.5, 0.6, 0.3) set through its logits, W_h = 2·Q with Q orthogonal (σ_max = 2 by
    construction): the one-step factor is max α + max(1 - α)·σ_max = 0.6 + 0.9·2 = 2.4."""
    rng = np.random.default_rng(8)
    params = leaky.init(D, H, rng, np.float64)
    Q, _ = np.linalg.qr(rng.standard_normal((H, H)))
    params["W_h"] = 2.0 * Q
    params["a"] = logit(np.array([0.1, 0.2, 0.5, 0.6, 0.3]))
    np.testing.assert_allclose(G.seeds_bound(params, [0, 1, 2, 3]), [1, 2.4, 2.4 ** 2, 2.4 ** 3], rtol=1e-12)
    x = data(rng, T=30)
    norms = G.jacobian_norms("leaky", params, x, examples=2)
    assert np.all(norms["per_example"] <= G.seeds_bound(params, norms["distance"]) * (1 + 1e-12))


def test_seeds_bound_with_leaky_units_is_attained_by_a_uniform_leak_on_a_scaled_identity():
    """α_i = 0.3 for every unit, W_h = 1.5·I, inputs so small that tanh' = 1: ∂h_t/∂h_{t-1} =
    0.3 I + 0.7·1.5 I = 1.35 I, so ‖∂h_T/∂h_{T-k}‖ = 1.35^k exactly, the bound itself."""
    rng = np.random.default_rng(12)
    params = leaky.init(D, H, rng, np.float64)
    params["W_h"], params["b"] = 1.5 * np.eye(H), np.zeros(H)
    params["a"] = np.full(H, logit(0.3))
    x = 1e-9 * data(rng, T=10)
    norms = G.jacobian_norms("leaky", params, x, examples=2)
    np.testing.assert_allclose(norms["mean"], 1.35 ** np.arange(11), rtol=1e-9)
    np.testing.assert_allclose(G.seeds_bound(params, norms["distance"]), 1.35 ** np.arange(11), rtol=1e-12)


def test_a_leak_near_one_slows_the_vanishing():
    rng = np.random.default_rng(9)
    params = leaky.init(D, H, rng, np.float64, learn_alpha=False)
    x = data(rng, T=30)
    fast = G.jacobian_norms("leaky", params, x, examples=2, alpha=0.0)["mean"][-1]
    slow = G.jacobian_norms("leaky", params, x, examples=2, alpha=0.9)["mean"][-1]
    assert slow > 1e4 * fast


def test_clipping_report_agrees_with_clip_grad_norm():
    rng = np.random.default_rng(10)
    grads = {"W_x": rng.standard_normal((4, 5)) * 3, "W_h": rng.standard_normal((5, 5)), "b": rng.standard_normal(5)}
    report = G.clipping_report(grads, 1.0)
    clipped = {k: v.copy() for k, v in grads.items()}
    total = optim.clip_grad_norm(clipped, 1.0)
    assert report["total_before"] == pytest.approx(total, rel=1e-12)
    assert report["total_after"] == pytest.approx(np.sqrt(sum(np.sum(v ** 2) for v in clipped.values())), rel=1e-9)
    for k in grads:
        assert report["params"][k]["before"] == pytest.approx(np.linalg.norm(grads[k]))
        assert report["params"][k]["after"] == pytest.approx(np.linalg.norm(clipped[k]), rel=1e-12)
    unclipped = G.clipping_report(grads, 1e6)
    assert unclipped["scale"] == 1.0 and unclipped["total_after"] == unclipped["total_before"]


def test_gate_saturation_counts_real_steps_and_matches_recomputed_gates():
    rng = np.random.default_rng(11)
    params = lstm.init(D, H, rng, np.float64)
    params["b"][H:2 * H] = 20.0                                # forget gate pinned open
    params["b"][:H] = -20.0                                    # input gate pinned shut
    x = data(rng)
    sat = G.gate_saturation("lstm", params, x)
    assert sat["f"]["near_1"] == 1.0 and sat["f"]["near_0"] == 0.0
    assert sat["i"]["near_0"] == 1.0
    params = lstm.init(D, H, rng, np.float64)
    mask = (np.arange(T)[:, None] < np.array([T, 4, 7])[None, :]).astype(float)
    sat = G.gate_saturation("lstm", params, x, mask=mask, eps=0.3)
    h, c = np.zeros((N, H)), np.zeros((N, H))                  # recompute o_t with step-level algebra
    o_vals = []
    for t in range(T):
        a = x[t] @ params["W_x"] + h @ params["W_h"] + params["b"]
        o_vals.append(ops.sigmoid(a[:, 3 * H:]))
        h, c = lstm.step(x[t], params, (h, c))
    o = np.stack(o_vals)[mask.astype(bool)]
    assert sat["o"]["near_0"] == pytest.approx(np.mean(o < 0.3))
    assert sat["o"]["near_1"] == pytest.approx(np.mean(o > 0.7))
    assert sat["o"]["mean"] == pytest.approx(o.mean())
    gsat = G.gate_saturation("gru", gru.init(D, H, rng, np.float64), x)
    assert set(gsat) == {"r", "z"}
    with pytest.raises(ValueError, match="lstm and gru"):
        G.gate_saturation("rnn", params, x)


def test_skip_connection_reaches_further_back_than_the_plain_rnn():
    """Same weights with W_skip = W_h: the loss at T reaches h_0 through ⌈T/d⌉ instead of T Jacobians."""
    rng = np.random.default_rng(12)
    base = rnn.init(D, H, rng, np.float64)
    x = data(rng, T=40)
    Gout = rng.standard_normal((N, H))
    plain = G.loss_reach("rnn", base, x, Gout)["h"][-1]
    p = skip.init(D, H, rng, np.float64) | {"W_x": base["W_x"], "b": base["b"], "W_h": 0 * base["W_h"], "W_skip": base["W_h"]}
    dwin = np.zeros((4, N, H))
    dwin[-1] = Gout
    skipped = G.loss_reach("skip", p, x, dwin, d=4)["h"][-1]
    assert skipped > 1e3 * plain


def test_unknown_cell_is_named():
    with pytest.raises(ValueError, match="cell must be one of"):
        G.cell_module("transformer")
