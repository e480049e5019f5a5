"""Initialisers: their distributions and structure, block handling for gated cells, key matching on flat model
dicts, and the IRNN against torch.nn.RNN(nonlinearity='relu') with identity recurrent weights."""

import numpy as np
import pytest
import torch

from unroll.nn import init, rnn


def lstm_like(D=5, H=8, prefix=""):
    rng = np.random.default_rng(0)
    return {prefix + "W_x": rng.standard_normal((D, 4 * H)), prefix + "W_h": rng.standard_normal((H, 4 * H)),
            prefix + "b": rng.standard_normal(4 * H)}


def test_functions_return_new_dicts_and_leave_the_input_alone():
    params = lstm_like()
    before = {k: v.copy() for k, v in params.items()}
    out = init.orthogonal(params, np.random.default_rng(1))
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    assert out["W_x"] is params["W_x"] and out["W_h"] is not params["W_h"]


def test_gaussian_has_the_requested_std():
    params = {"W_x": np.zeros((200, 300)), "W_h": np.zeros((300, 300)), "b": np.ones(300)}
    out = init.gaussian(params, np.random.default_rng(2), std=0.001)
    for k in ("W_x", "W_h"):
        assert abs(out[k].std() / 0.001 - 1) < 0.01 and abs(out[k].mean()) < 1e-5
    np.testing.assert_array_equal(out["b"], 1.0)


def test_xavier_uses_the_glorot_bound_per_gate_block():
    D, H = 30, 40
    out = init.xavier(lstm_like(D, H), np.random.default_rng(3))
    for k, fan_in in (("W_x", D), ("W_h", H)):
        bound = np.sqrt(6.0 / (fan_in + H))                    # fan_out = one gate block, H
        assert np.abs(out[k]).max() <= bound and np.abs(out[k]).max() > 0.98 * bound
        assert abs(out[k].std() / (bound / np.sqrt(3)) - 1) < 0.05


def test_xavier_bound_equals_torch_on_a_plain_matrix():
    W = torch.empty(300, 200)                                  # torch's (out, in) = our W (in, out) transposed
    torch.nn.init.xavier_uniform_(W, gain=2.0)
    ours = init.xavier({"W_x": np.zeros((200, 300))}, np.random.default_rng(4), gain=2.0)["W_x"]
    bound = 2.0 * np.sqrt(6.0 / 500)
    assert abs(W.abs().max().item() - bound) < 0.01 * bound and abs(np.abs(ours).max() - bound) < 0.01 * bound
    assert abs(W.std().item() - ours.std()) < 0.02 * ours.std()


@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal_blocks_are_orthogonal_times_gain(gain):
    H = 8
    out = init.orthogonal(lstm_like(H=H), np.random.default_rng(5), gain=gain)
    for g in range(4):
        Q = out["W_h"][:, g * H:(g + 1) * H]
        np.testing.assert_allclose(Q.T @ Q, gain ** 2 * np.eye(H), atol=1e-12)
        np.testing.assert_allclose(np.linalg.svd(Q, compute_uv=False), gain, atol=1e-12)
    assert not np.allclose(out["W_h"][:, :H], out["W_h"][:, H:2 * H])   # independent draws


def test_orthogonal_powers_keep_their_norm():
    W = init.orthogonal({"W_h": np.zeros((16, 16))}, np.random.default_rng(6))["W_h"]
    assert abs(np.linalg.norm(np.linalg.matrix_power(W, 50), 2) - 1.0) < 1e-10


def test_orthogonal_matrix_non_square_has_orthonormal_rows_or_columns():
    rng = np.random.default_rng(7)
    tall, wide = init.orthogonal_matrix(10, 4, rng), init.orthogonal_matrix(4, 10, rng)
    np.testing.assert_allclose(tall.T @ tall, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(wide @ wide.T, np.eye(4), atol=1e-12)


def test_identity_is_the_irnn_and_zeroes_the_bias():
    rng = np.random.default_rng(8)
    params = rnn.init(3, 6, rng, np.float64)
    out = init.identity(params)
    np.testing.assert_array_equal(out["W_h"], np.eye(6))
    np.testing.assert_array_equal(out["b"], 0.0)
    np.testing.assert_array_equal(out["W_x"], params["W_x"])
    scaled = init.identity(params, scale=0.5)
    np.testing.assert_array_equal(scaled["W_h"], 0.5 * np.eye(6))


def test_irnn_matches_torch_relu_rnn_with_identity_init():
    """An IRNN is torch.nn.RNN(nonlinearity='relu') with W_hh = I and zero biases: same init, same forward."""
    T, N, D, H = 30, 4, 3, 6
    rng = np.random.default_rng(9)
    params = init.gaussian(init.identity(rnn.init(D, H, rng, np.float64)), rng, std=0.001, keys=("W_x",))
    net = torch.nn.RNN(D, H, nonlinearity="relu").double()
    with torch.no_grad():
        torch.nn.init.eye_(net.weight_hh_l0)
        net.bias_ih_l0.zero_()
        net.bias_hh_l0.zero_()
        net.weight_ih_l0.copy_(torch.from_numpy(params["W_x"].T.copy()))
    np.testing.assert_array_equal(net.weight_hh_l0.detach().numpy().T, params["W_h"])
    np.testing.assert_array_equal(net.bias_ih_l0.detach().numpy() + net.bias_hh_l0.detach().numpy(), params["b"])
    x = rng.standard_normal((T, N, D))
    out, hn = net(torch.from_numpy(x))
    hs, hT, _ = rnn.forward(x, params, activation="relu")
    np.testing.assert_allclose(hs, out.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hT, hn[0].detach().numpy(), rtol=1e-12, atol=1e-15)


def test_identity_on_gated_blocks_and_non_square_is_refused():
    out = init.identity(lstm_like(H=4))
    for g in range(4):
        np.testing.assert_array_equal(out["W_h"][:, 4 * g:4 * g + 4], np.eye(4))
    with pytest.raises(ValueError, match="identity needs square blocks"):
        init.identity({"W_x": np.zeros((3, 5))}, keys=("W_x",))


def test_lstm_forget_bias_sets_only_the_forget_block():
    H = 5
    params = lstm_like(H=H)
    out = init.lstm_forget_bias(params, value=2.0)
    np.testing.assert_array_equal(out["b"][H:2 * H], 2.0)
    np.testing.assert_array_equal(out["b"][:H], params["b"][:H])
    np.testing.assert_array_equal(out["b"][2 * H:], params["b"][2 * H:])
    with pytest.raises(ValueError, match=r"must be an LSTM bias of shape \(4H,\)"):
        init.lstm_forget_bias({"b": np.zeros(6)})


def test_keys_reach_every_layer_of_a_flat_model_dict():
    params = lstm_like(prefix="layer0.lstm.") | lstm_like(H=6, prefix="layer1.lstm.") | {"out.W": np.ones((6, 3))}
    out = init.orthogonal(init.lstm_forget_bias(params, 1.0), np.random.default_rng(10))
    for layer, H in (("layer0", 8), ("layer1", 6)):
        W = out[f"{layer}.lstm.W_h"]
        np.testing.assert_allclose(W[:, :H].T @ W[:, :H], np.eye(H), atol=1e-12)
        np.testing.assert_array_equal(out[f"{layer}.lstm.b"][H:2 * H], 1.0)
    np.testing.assert_array_equal(out["out.W"], 1.0)
    assert init.matching(params, "W_h") == ["layer0.lstm.W_h", "layer1.lstm.W_h"]
    with pytest.raises(ValueError, match="no parameter matches"):
        init.gaussian(params, np.random.default_rng(0), keys=("W_q",))


def test_dtype_is_kept():
    params = {k: v.astype(np.float32) for k, v in lstm_like().items()}
    rng = np.random.default_rng(11)
    for fn in (lambda p: init.gaussian(p, rng), lambda p: init.xavier(p, rng), lambda p: init.orthogonal(p, rng),
               init.identity, init.lstm_forget_bias):
        assert all(v.dtype == np.float32 for v in fn(params).values())
