"""Leaky, skip, deep-transition and deep-output cells inside a Stack: fixed and learned α, the skip window in the stack's state layout, the
"only connections of length d" variant of seed 001, float64 gradient checks (masks, 2 layers, bidirectional),
hand-composed layers, the step loop, and the options' one-line errors."""

import numpy as np
import pytest

from unroll.nn import deep_output, deep_transition, gradcheck, leaky, skip
from unroll.nn.stack import Stack

T, N, D, H = 5, 3, 4, 3
MASK = np.array([[1, 1, 1]] * 2 + [[1, 0, 1]] * 2 + [[1, 0, 0]])
VARIANTS = [("leaky", {"alpha": 0.5}), ("leaky", {}), ("leaky", {"alpha_range": (0.3, 0.6)}),
            ("skip", {"d": 2}), ("skip", {"d": 3}), ("skip", {"d": 2, "only_skip": True}),
            ("deep_transition", {"depth": 3, "shortcut": True}), ("deep_output", {"depth": 2})]


def layer_params(params, layer):
    prefix = f"layer{layer}."
    return {k.split(".", 2)[2]: v for k, v in params.items() if k.startswith(prefix) and "_reverse" not in k}


@pytest.mark.parametrize("cell, options", VARIANTS)
@pytest.mark.parametrize("layers, bidirectional, masked", [(1, False, True), (2, False, False), (2, True, True)])
def test_gradients_match_centred_differences(cell, options, layers, bidirectional, masked):
    rng = np.random.default_rng(0)
    net = Stack(cell, D, H, layers, bidirectional=bidirectional, cell_options=options)
    errors = gradcheck.check_stack(net, MASK if masked else None, T, N, D, rng)
    assert max(errors.values()) < 1e-7, errors
    if cell == "leaky" and "alpha" not in options:
        assert "layer0.leaky.a" in errors                      # α learned, and checked
    if options.get("only_skip"):
        assert not any(k.endswith("W_h") for k in errors)


@pytest.mark.parametrize("cell, options", VARIANTS)
def test_stack_equals_hand_composed_cells(cell, options):
    rng = np.random.default_rng(1)
    net = Stack(cell, D, H, 2, cell_options=options)
    params = net.init(rng, np.float64)
    x = rng.standard_normal((T, N, D))
    hs, state, _ = net.forward(x, params, mask=MASK)
    module = {"leaky": leaky, "skip": skip, "deep_transition": deep_transition, "deep_output": deep_output}[cell]
    forward_options = {k: v for k, v in options.items() if k in ("alpha", "d")}
    h1, s1, _ = module.forward(x, layer_params(params, 0), None, MASK, **forward_options)
    h2, s2, _ = module.forward(h1, layer_params(params, 1), None, MASK, **forward_options)
    np.testing.assert_allclose(hs, h2, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(state, np.stack([s1, s2]), rtol=1e-13, atol=1e-13)


def test_skip_state_layout_is_one_window_per_layer_and_direction():
    net = Stack("skip", D, H, 2, bidirectional=True, cell_options={"d": 3})
    assert net.zero_state(N).shape == (4, 3, N, H)             # (L·dirs, d, N, H)
    params = net.init(np.random.default_rng(2), np.float64)
    x = np.random.default_rng(3).standard_normal((T, N, D))
    _, state, _ = net.forward(x, params, mask=MASK)
    assert state.shape == (4, 3, N, H)
    with pytest.raises(ValueError, match=r"state0 must have shape \(4, 3, 3, 3\)"):
        net.forward(x, params, np.zeros((4, N, H)))


@pytest.mark.parametrize("cell, options", VARIANTS)
def test_step_loop_equals_forward_and_continues_the_state(cell, options):
    rng = np.random.default_rng(4)
    net = Stack(cell, D, H, 2, cell_options=options)
    params = net.init(rng, np.float64)
    x = rng.standard_normal((T, N, D))
    hs, state, _ = net.forward(x, params)
    s = None
    for t in range(T):
        out, s = net.step(x[t], params, s)
        np.testing.assert_allclose(out, hs[t], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(s, state, rtol=1e-13, atol=1e-13)
    first, s_half, _ = net.forward(x[:2], params)               # two calls carrying the state == one call
    rest, s_end, _ = net.forward(x[2:], params, s_half)
    np.testing.assert_allclose(np.concatenate([first, rest]), hs, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(s_end, state, rtol=1e-13, atol=1e-13)


def test_fixed_alpha_leaky_stack_is_the_running_average_of_seed_001():
    """With W_x = W_h = 0 and b = β: u_t = tanh(β), h_t = α h_{t-1} + (1 - α) tanh(β), so
    h_t = tanh(β) + α^t (h_0 - tanh(β)) in closed form."""
    net = Stack("leaky", 2, H, 1, cell_options={"alpha": 0.7})
    params = {k: np.zeros_like(v) for k, v in net.init(np.random.default_rng(5), np.float64).items()}
    params["layer0.leaky.b"] = np.array([0.3, -1.0, 2.0])
    h0 = np.array([[[0.5, 0.1, -0.4]]])
    hs, _, _ = net.forward(np.zeros((T, 1, 2)), params, h0)
    t = np.arange(1, T + 1)[:, None]
    expected = np.tanh(params["layer0.leaky.b"]) + 0.7 ** t * (h0[0] - np.tanh(params["layer0.leaky.b"]))
    np.testing.assert_allclose(hs[:, 0], expected, rtol=1e-13, atol=1e-14)


def test_only_skip_reaches_back_only_by_multiples_of_d():
    """Without length-one connections h_t depends on h_{t-d} only: ∂h_T/∂h_k = 0 unless d divides T - k."""
    rng, d, steps = np.random.default_rng(6), 3, 9
    net = Stack("skip", D, H, 1, cell_options={"d": d, "only_skip": True})
    params = net.init(rng, np.float64)
    x = rng.standard_normal((steps, 1, D))
    G = np.zeros((steps, 1, H))
    G[-1] = 1.0                                                 # the loss reads h_T only
    _, _, cache = net.forward(x, params)
    dx, _, _ = net.backward(G, cache)
    reach = np.abs(dx[:, 0]).sum(axis=1)                        # |∂(Σ h_T)/∂x_k| per step k
    # h_9 reads h_6, h_3 (and x_9, x_6, x_3): every other input is unreachable
    assert np.all(reach[[2, 5, 8]] > 0) and np.all(reach[[0, 1, 3, 4, 6, 7]] == 0)


@pytest.mark.parametrize("cell, options, match", [
    ("leaky", {"alpha": 0.5, "learn_alpha": True}, "give alpha .* or learn_alpha=True"),
    ("leaky", {"learn_alpha": False}, "learn_alpha=False needs a fixed leak alpha"),
    ("leaky", {"delay": 2}, "cell 'leaky' takes no option delay"),
    ("skip", {"d": 0}, r"d \(the skip delay\) must be an integer >= 1, got 0"),
    ("skip", {"only_skip": "yes"}, "only_skip must be True or False"),
    ("lstm", {"d": 2}, "cell 'lstm' takes no option d"),
])
def test_bad_options_are_named(cell, options, match):
    with pytest.raises(ValueError, match=match):
        Stack(cell, D, H, 1, cell_options=options)


def test_gradcheck_covers_every_registered_cell_and_activation():
    """`unroll gradcheck` runs gradcheck.report over CASES: every Stack cell and every rnn activation is there."""
    from unroll.nn import ops, stack
    assert {cell for _, cell, _, _ in gradcheck.CASES} >= set(stack.CELLS)
    assert {act for _, cell, act, _ in gradcheck.CASES if cell == "rnn"} == set(ops.ACTIVATIONS)
    assert any(cell == "leaky" and "alpha" not in opts for _, cell, _, opts in gradcheck.CASES)   # learned α
    assert any(opts.get("only_skip") for _, _, _, opts in gradcheck.CASES)
