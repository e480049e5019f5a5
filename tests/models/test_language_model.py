"""LanguageModel and truncated BPTT: gradients against centred differences, and against PyTorch."""

import numpy as np
import pytest
import torch

from unroll.models import LanguageModel
from unroll.nn import gradcheck, ops
from unroll.train.bptt import TruncatedBPTT

V, H, T, N = 7, 4, 5, 3


def tiny_model(cell, layers=2, dropout=0.0, seed=0, activation="tanh"):
    return LanguageModel(vocab_size=V, hidden_size=H, num_layers=layers, cell=cell, dropout=dropout,
                         seed=seed, dtype=np.float64, embedding_size=3, activation=activation)


def ids(rng, T=T, N=N):
    return rng.integers(0, V, (T, N))


@pytest.mark.parametrize("cell, activation", [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_loss_gradients_match_centred_differences(cell, activation, dropout):
    rng = np.random.default_rng(0)
    model = tiny_model(cell, dropout=dropout, activation=activation)
    x, y = ids(rng), ids(rng)
    state0 = gradcheck.upstream(model.zero_state(N), rng)
    rng_state = model.rng.bit_generator.state

    def loss():   # the same dropout masks on every call
        model.rng.bit_generator.state = rng_state
        return model.loss_and_grads(x, y, state0)[0]

    model.rng.bit_generator.state = rng_state
    _, grads, _ = model.loss_and_grads(x, y, state0)
    # eps = 1e-5: with 1e-6 the rounding noise of the differences on the small embedding gradients
    # reaches 1.6e-7 on some seeds (measured on seeds 0-7); 1e-5 gives 0.8-1.9e-8 on all of them.
    errors = gradcheck.check(loss, model.params, grads, eps=1e-5)
    assert max(errors.values()) < 1e-7, errors


def test_mask_weights_only_real_tokens():
    rng = np.random.default_rng(1)
    model = tiny_model("lstm")
    x, y = ids(rng), ids(rng)
    mask = np.ones((T, N))
    mask[3:, 1] = 0
    loss, _, _ = model.loss_and_grads(x, y, mask=mask)
    logits, _, _ = model.forward(x, training=False)
    logp = ops.log_softmax(logits)
    picked = np.take_along_axis(logp, y[:, :, None], axis=2)[:, :, 0]
    assert loss == pytest.approx(-(picked * mask).sum() / mask.sum(), rel=1e-12)
    nll, count, _ = model.evaluate(x, y, mask=mask)
    assert nll / count == pytest.approx(loss, rel=1e-12)


def reference_window(model, stream_x, stream_y, k1, k2, call):
    """The window of call ``call`` (0-based) of BPTT(k1, k2), worked out from the definition alone.

    After call c the driver has read the steps [0, (c+1) k1); the loss is on the last k1 of them and is
    differentiated through the last min(k2, (c+1) k1) steps, starting from the state that a plain forward
    pass from zeros over everything before the window reaches (held constant: the truncation).
    returns (window_x, window_y, start_state)
    """
    end = (call + 1) * k1
    start = max(0, end - k2)
    start_state = None
    if start:
        _, start_state, _ = model.forward(stream_x[:start], None, training=True)
    return stream_x[start:end], stream_y[start:end], start_state


@pytest.mark.parametrize("cell, layers, k1, k2", [
    ("gru", 1, 3, 3), ("gru", 1, 2, 5), ("gru", 1, 3, 4),
    ("lstm", 2, 2, 5), ("lstm", 2, 1, 3), ("rnn", 3, 2, 3),
])
def test_truncated_bptt_gradient_is_the_gradient_of_the_window_loss(cell, layers, k1, k2):
    """BPTT(k1, k2): on every call, loss and gradient are those of the loss on the last k1 steps of the
    min(k2, steps read)-step window, differentiated by centred differences through the whole window from
    the state an independent forward pass reaches at the window's start. Five calls, so the window fills
    (k2 steps) and then slides."""
    rng = np.random.default_rng(2)
    model = tiny_model(cell, layers=layers)
    calls = 5
    stream_x, stream_y = ids(rng, T=calls * k1), ids(rng, T=calls * k1)
    driver = TruncatedBPTT(model, k1, k2)
    for call in range(calls):
        new = slice(call * k1, (call + 1) * k1)
        loss, grads = driver.step(stream_x[new], stream_y[new])
        window_x, window_y, start_state = reference_window(model, stream_x, stream_y, k1, k2, call)
        if k2 > k1:   # a driver that ignored k2 would keep no history
            kept = min(k2 - k1, (call + 1) * k1)
            assert driver.history is not None and len(driver.history[0]) == kept
            np.testing.assert_array_equal(driver.history[0], stream_x[(call + 1) * k1 - kept:(call + 1) * k1])
        else:
            assert driver.history is None

        def window_loss():
            logits, _, _ = model.forward(window_x, start_state, training=True)
            return ops.softmax_cross_entropy(logits[-k1:], window_y[-k1:])[0]

        assert loss == pytest.approx(window_loss(), rel=1e-12)
        errors = gradcheck.check(window_loss, model.params, grads, eps=1e-5)
        assert max(errors.values()) < 1e-7, (call, errors)
    assert len(reference_window(model, stream_x, stream_y, k1, k2, calls - 1)[0]) == min(k2, calls * k1)


def test_bptt_k1_equal_k2_is_loss_and_grads_with_the_carried_state():
    rng = np.random.default_rng(3)
    model = tiny_model("lstm")
    x1, y1, x2, y2 = ids(rng), ids(rng), ids(rng), ids(rng)
    driver = TruncatedBPTT(model, T)
    driver.step(x1, y1)
    loss, grads = driver.step(x2, y2)
    _, _, state = model.loss_and_grads(x1, y1)
    ref_loss, ref_grads, _ = model.loss_and_grads(x2, y2, state)
    assert loss == ref_loss
    for k in grads:
        np.testing.assert_array_equal(grads[k], ref_grads[k])


def test_matches_torch_embedding_lstm_linear():
    rng = np.random.default_rng(4)
    model = tiny_model("lstm")
    x, y = ids(rng), ids(rng)
    loss, grads, _ = model.loss_and_grads(x, y)
    from unroll.interop.torch_weights import to_torch
    emb = torch.nn.Embedding(V, 3).double()
    lstm = torch.nn.LSTM(3, H, 2).double()
    out = torch.nn.Linear(H, V).double()
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(model.params["embed.W"]))
        for name, value in to_torch({k: v for k, v in model.params.items() if k.startswith("layer")}, model.stack).items():
            getattr(lstm, name).copy_(torch.from_numpy(np.asarray(value)))
        out.weight.copy_(torch.from_numpy(model.params["out.W"].T))
        out.bias.copy_(torch.from_numpy(model.params["out.b"]))
    logits = out(lstm(emb(torch.from_numpy(x)))[0])
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y).reshape(-1))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grads["embed.W"], emb.weight.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grads["out.W"], out.weight.grad.numpy().T, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grads["layer1.lstm.W_h"], lstm.weight_hh_l1.grad.numpy().T, rtol=1e-10, atol=1e-14)


def test_same_seed_same_parameters_and_bad_input():
    a, b = tiny_model("gru", seed=5), tiny_model("gru", seed=5)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    with pytest.raises(ValueError, match=r"x must hold token ids in \[0, V\) = \[0, 7\)"):
        a.loss_and_grads(np.full((2, 2), 7), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match=r"y must be an integer array of shape \(T, N\)"):
        a.loss_and_grads(np.zeros((2, 2), int), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="cell must be one of"):
        LanguageModel(vocab_size=5, cell="transformer")


def test_init_scale_draws_every_parameter_uniformly():
    model = LanguageModel(vocab_size=50, hidden_size=20, num_layers=2, cell="lstm", init_scale=0.1, seed=1)
    for key, value in model.params.items():
        assert np.abs(value).max() <= 0.1, key
        assert value.std() == pytest.approx(0.1 / np.sqrt(3), rel=0.25), key
    with pytest.raises(ValueError, match="--init-scale must be positive"):
        LanguageModel(vocab_size=5, init_scale=0.0)
