"""The Gaussian head: masked NLL against centred differences and against torch.nn.GaussianNLLLoss (1e-10),
and its analytic quantiles against the Normal's known ones."""

import math

import numpy as np
import torch

from unroll.nn import gradcheck
from unroll.nn import likelihood as lk


def problem(seed=0, shape=(5, 3)):
    rng = np.random.default_rng(seed)
    mu, a, y = rng.standard_normal(shape), rng.standard_normal(shape), rng.standard_normal(shape)
    w = (rng.random(shape) > 0.3).astype(np.float64)
    w[0, 0] = 1.0
    return mu, a, y, w


def test_gradients_match_centred_differences_with_a_mask():
    mu, a, y, w = problem()
    _, dmu, da = lk.gaussian_nll(mu, a, y, w)
    errors = gradcheck.check(lambda: lk.gaussian_nll(mu, a, y, w)[0], {"mu": mu, "a": a}, {"mu": dmu, "a": da})
    assert max(errors.values()) < 1e-7, errors
    assert np.all(dmu[w == 0] == 0) and np.all(da[w == 0] == 0)


def test_loss_and_gradients_match_torch_gaussian_nll():
    mu, a, y, w = problem(1)
    loss, dmu, da = lk.gaussian_nll(mu, a, y, w)
    tm, ta = torch.tensor(mu, requires_grad=True), torch.tensor(a, requires_grad=True)
    sigma = torch.nn.functional.softplus(ta) + lk.SIGMA_MIN
    each = torch.nn.GaussianNLLLoss(full=True, eps=1e-300, reduction="none")(tm, torch.tensor(y), sigma ** 2)
    tw = torch.tensor(w)
    tloss = (each * tw).sum() / tw.sum()
    tloss.backward()
    assert abs(loss - tloss.item()) < 1e-10
    assert np.max(np.abs(dmu - tm.grad.numpy())) < 1e-10
    assert np.max(np.abs(da - ta.grad.numpy())) < 1e-10


def test_softplus_is_stable_and_quantiles_are_the_normal_ones():
    a = np.array([-800.0, 0.0, 800.0])
    assert np.allclose(lk.softplus(a), [0.0, math.log(2.0), 800.0])
    mu, sigma = np.array([1.0]), np.array([2.0])
    for p, value in lk.Z.items():             # Φ(Φ⁻¹(p)) = p, through the error function
        assert abs(0.5 * (1 + math.erf(value / math.sqrt(2))) - p) < 1e-12
        assert lk.quantile(mu, sigma, p)[0] == 1.0 + 2.0 * value


def test_an_empty_mask_is_refused():
    mu, a, y, _ = problem()
    try:
        lk.gaussian_nll(mu, a, y, np.zeros_like(mu))
    except ValueError as err:
        assert "no target" in str(err)
    else:
        raise AssertionError("an empty mask was accepted")
