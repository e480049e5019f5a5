"""Deep-output RNN (seed 004): naive reference, float64 gradient check of every input and parameter (depths
1 and 2, with and without a mask), the state is the plain RNN's, the step loop and Stack.step use the output
MLP, and the output path is k + K matrices long, not K per step."""

import numpy as np
import pytest

from unroll.analysis.paths import shortest_path_length
from unroll.nn import deep_output as do
from unroll.nn import gradcheck, rnn
from unroll.nn.stack import Stack

T, N, D, H = 5, 3, 4, 3
MASK = np.array([[1, 1, 1]] * 2 + [[1, 0, 1]] * 2 + [[1, 0, 0]])


def make(rng, depth=2):
    params = do.init(D, H, rng, np.float64, depth=depth)
    return params, rng.standard_normal((T, N, D)), 0.5 * rng.standard_normal((N, H))


@pytest.mark.parametrize("depth", [1, 2])
def test_forward_matches_naive_reference_and_the_state_is_the_rnns(depth):
    params, x, h0 = make(np.random.default_rng(0), depth)
    outs, hT, _ = do.forward(x, params, h0)
    h, ref = h0, []
    for t in range(T):
        h = np.tanh(x[t] @ params["W_x"] + h @ params["W_h"] + params["b"])
        o = h
        for j in range(1, depth + 1):
            o = np.stack([np.tanh(params[f"V_{j}"].T @ o[n] + params[f"c_{j}"]) for n in range(N)])
        ref.append(o)
    np.testing.assert_allclose(outs, np.stack(ref), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_gradients_match_centred_differences(depth, masked, activation):
    rng = np.random.default_rng(1)
    params, x, h0 = make(rng, depth)
    mask = MASK if masked else None
    G, GT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))

    def loss():
        outs, hT, _ = do.forward(x, params, h0, mask, activation)
        return gradcheck.contract((outs, hT), (G, GT))

    outs, _, cache = do.forward(x, params, h0, mask, activation)
    if masked:
        assert np.all(outs[MASK == 0] == 0.0)
    dx, dh0, grads = do.backward(G, cache, GT)
    assert list(grads) == list(params)
    errors = gradcheck.check(loss, {"x": x, "h0": h0, **params}, {"x": dx, "h0": dh0, **grads})
    assert max(errors.values()) < 1e-7, errors


def test_stack_step_loop_reads_the_output_mlp():
    rng = np.random.default_rng(2)
    net = Stack("deep_output", D, H, 2, cell_options={"depth": 2})
    params = net.init(rng, np.float64)
    x = rng.standard_normal((T, N, D))
    outs, state, _ = net.forward(x, params)
    s = None
    for t in range(T):
        out, s = net.step(x[t], params, s)
        np.testing.assert_allclose(out, outs[t], rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(s, state, rtol=1e-13, atol=1e-14)
    single = {k: params[f"layer0.deep_output.{k}"] for k in ("W_x", "W_h", "b")}
    _, h_rnn, _ = rnn.forward(x, single, None)
    np.testing.assert_allclose(state[0], h_rnn, rtol=1e-13, atol=1e-14)   # layer 0's state: the RNN's h


@pytest.mark.parametrize("k", [1, 3, 6])
def test_output_depth_is_crossed_once_not_at_every_step(k):
    assert shortest_path_length("deep_output", k, {"depth": 2}) == pytest.approx(k + 2, abs=1e-3)


def test_bad_input_is_named():
    params, x, _ = make(np.random.default_rng(3))
    with pytest.raises(ValueError, match="params hold no V_1"):
        do.forward(x, {k: params[k] for k in ("W_x", "W_h", "b")})
    with pytest.raises(ValueError, match=r"params\['V_1'\] must have shape \(3, 3\)"):
        do.forward(x, params | {"V_1": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="depth .* must be an integer >= 1, got 0"):
        Stack("deep_output", D, H, cell_options={"depth": 0})
