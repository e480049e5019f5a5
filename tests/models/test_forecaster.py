"""Forecaster: float64 centred differences on every parameter (observed masks with gaps), parity with
torch.nn.LSTM + nn.Linear + GaussianNLLLoss at 1e-10 for both decoders, and the free-running decoder
feeding its own draws back."""

import numpy as np
import pytest
import torch

from unroll.interop import torch_weights as tw
from unroll.models.forecaster import ForecastBatch, Forecaster
from unroll.nn import gradcheck
from unroll.nn import likelihood as lk

C, H_, N, F = 5, 3, 4, 2


def make_batch(seed=0, gaps=True):
    rng = np.random.default_rng(seed)
    T = C + H_
    observed = np.ones((T, N))
    if gaps:
        observed[rng.random((T, N)) < 0.25] = 0.0
        observed[-1, 0] = 1.0
    return ForecastBatch(rng.standard_normal((T, N)), rng.standard_normal((T, N, F)), observed,
                         np.zeros((1, N)), np.ones((1, N)))


def model_of(decoder, cell="lstm", layers=1, ar_loss="all", seed=1):
    return Forecaster(C, H_, F, hidden_size=3, num_layers=layers, cell=cell, decoder=decoder, ar_loss=ar_loss,
                      seed=seed, dtype=np.float64)


@pytest.mark.parametrize("decoder,ar_loss", [("direct", "all"), ("autoregressive", "all"),
                                             ("autoregressive", "horizon")])
@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 2), ("rnn", 1)])
def test_gradient_check_every_parameter_with_observed_masks(decoder, ar_loss, cell, layers):
    model, batch = model_of(decoder, cell, layers, ar_loss), make_batch()
    _, grads, state = model.loss_and_grads(batch)
    assert state is None
    errors = gradcheck.check(lambda: model.loss_and_grads(batch)[0], model.params, grads)
    assert set(errors) == set(model.params)
    assert max(errors.values()) < 1e-7, errors


def test_unobserved_targets_do_not_count():
    """A filled (unobserved) target changes neither the loss nor the gradients, whatever its value."""
    model, batch = model_of("direct"), make_batch(2)
    loss, grads, _ = model.loss_and_grads(batch)
    z = batch.z.copy()
    z[C:][batch.observed[C:] == 0] = 1e3
    loss2, grads2, _ = model.loss_and_grads(batch._replace(z=z))
    assert loss == loss2 and all(np.array_equal(grads[k], grads2[k]) for k in grads)


def torch_loss(model, batch, horizon_only):
    """The same network in torch: nn.LSTM -> nn.Linear -> (μ, softplus scale) -> GaussianNLLLoss."""
    lstm = tw.torch_module(model.stack, model._stack_params())
    lin = torch.nn.Linear(*model.params["out.W"].shape).double()
    lin.weight.data = torch.tensor(model.params["out.W"].T.copy())
    lin.bias.data = torch.tensor(model.params["out.b"].copy())
    x = torch.tensor(model.inputs(batch))
    ys, _ = lstm(x)
    z, w = torch.tensor(batch.z), torch.tensor(batch.observed)
    if model.decoder == "direct":
        o = lin(ys[-1])
        mu, a, target, weight = o[:, :H_].T, o[:, H_:].T, z[C:], w[C:]
    else:
        o = lin(ys)
        mu, a, target, weight = o[..., 0], o[..., 1], z[1:], w[1:].clone()
        if horizon_only:
            weight[:C - 1] = 0
    var = (torch.nn.functional.softplus(a) + lk.SIGMA_MIN) ** 2
    each = torch.nn.GaussianNLLLoss(full=True, eps=1e-300, reduction="none")(mu, target, var)
    loss = (each * weight).sum() / weight.sum()
    loss.backward()
    grads = tw.grads_from_torch({k: v.grad.numpy() for k, v in lstm.named_parameters()}, model.stack)
    grads["out.W"], grads["out.b"] = lin.weight.grad.numpy().T, lin.bias.grad.numpy()
    return loss.item(), grads


@pytest.mark.parametrize("decoder,ar_loss", [("direct", "all"), ("autoregressive", "all"),
                                             ("autoregressive", "horizon")])
@pytest.mark.parametrize("layers", [1, 2])
def test_parity_with_torch(decoder, ar_loss, layers):
    torch.set_num_threads(1)
    model, batch = model_of(decoder, "lstm", layers, ar_loss, seed=3), make_batch(4)
    loss, grads, _ = model.loss_and_grads(batch)
    t_loss, t_grads = torch_loss(model, batch, ar_loss == "horizon")
    assert abs(loss - t_loss) < 1e-10
    for k in model.params:
        assert np.max(np.abs(grads[k] - t_grads[k])) < 1e-10, k


def test_free_running_paths_feed_their_own_draws_back():
    """Path s's first step is N(μ_C, σ_C) of the teacher-forced pass (same context); each later step is the
    network's step on the previous draw, which the test recomputes one step at a time."""
    model, batch = model_of("autoregressive", seed=5), make_batch(6, gaps=False)
    S = 3
    paths = model.sample_paths(batch, S, np.random.default_rng(7))
    eps = np.random.default_rng(7).standard_normal((H_, S * N))
    mu, a, _, _ = model.forward(batch, training=False)
    first = mu[C - 1] + lk.scale_of(a[C - 1]) * eps[0].reshape(S, N)
    assert np.allclose(paths[:, 0], first, atol=1e-12)
    # the teacher-forced pass on path 0's own draws reproduces its later steps
    z = batch.z.copy()
    z[C:] = paths[0]
    mu2, a2, _, _ = model.forward(batch._replace(z=z), training=False)
    for k in range(1, H_):
        expected = mu2[C - 1 + k] + lk.scale_of(a2[C - 1 + k]) * eps[k].reshape(S, N)[0]
        assert np.allclose(paths[0, k], expected, atol=1e-12)


def test_direct_forecast_quantiles_are_analytic():
    model, batch = model_of("direct"), make_batch(8)
    q = model.forecast(batch)
    mu, a, _, _ = model.forward(batch, training=False)
    assert np.array_equal(q["mean"], mu)
    assert np.allclose(q[0.9] - mu, lk.scale_of(a) * 1.2815515655446004)
    assert np.all(q[0.025] < q[0.1]) and np.all(q[0.9] < q[0.975])
