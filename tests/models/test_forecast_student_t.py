"""The Student-t head (issue 31, item 6): its NLL equals -log of the t density written out here, its
gradients pass float64 centred differences (the head alone, and the forecaster with both decoders, three
cells, observed masks with gaps, covariates), its quantiles equal the t tables, and a heavy-tailed series
trains from the CLI with --likelihood student-t."""

import math

import numpy as np
import pytest

from unroll.cli import main
from unroll.models import forecast_likelihood as FL
from unroll.models.forecaster import ForecastBatch, Forecaster
from unroll.nn import gradcheck
from unroll.nn import likelihood as lk


def density(y, mu, sigma, nu):
    """The Student-t density, from its textbook formula."""
    c = math.gamma((nu + 1) / 2) / (math.gamma(nu / 2) * math.sqrt(nu * math.pi) * sigma)
    return c * (1 + ((y - mu) / sigma) ** 2 / nu) ** (-(nu + 1) / 2)


def test_the_nll_is_minus_log_the_density_masked():
    rng = np.random.default_rng(0)
    mu, y, a = rng.standard_normal(6), 3 * rng.standard_normal(6), rng.standard_normal((2, 6))
    w = np.array([1, 1, 0, 1, 0, 1.0])
    loss, _, _ = FL.nll("student-t", mu, a, y, w)
    sigma, nu = np.log1p(np.exp(a[0])) + lk.SIGMA_MIN, 2 + np.log1p(np.exp(a[1]))
    expected = -sum(math.log(density(y[i], mu[i], sigma[i], nu[i])) for i in range(6) if w[i]) / 4
    assert loss == pytest.approx(expected, rel=1e-13)


def test_head_gradients_by_centred_differences():
    rng = np.random.default_rng(1)
    params = {"mu": rng.standard_normal((3, 4)), "a": rng.standard_normal((2, 3, 4))}
    y, w = 2 * rng.standard_normal((3, 4)), (rng.random((3, 4)) > 0.3).astype(float)
    _, dmu, da = FL.nll("student-t", params["mu"], params["a"], y, w)
    errors = gradcheck.check(lambda: FL.nll("student-t", params["mu"], params["a"], y, w)[0], params,
                             {"mu": dmu, "a": da})
    assert max(errors.values()) < 1e-8, errors


@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
@pytest.mark.parametrize("cell,layers,past,future", [("lstm", 1, 0, 0), ("gru", 2, 1, 1), ("rnn", 1, 0, 2)])
def test_forecaster_gradients_with_the_student_t_head(decoder, cell, layers, past, future):
    rng = np.random.default_rng(2)
    C, H, N = 5, 3, 4
    observed = (rng.random((C + H, N)) > 0.25).astype(float)
    observed[-1] = 1.0
    batch = ForecastBatch(rng.standard_normal((C + H, N)), rng.standard_normal((C + H, N, 2)), observed,
                          np.zeros((1, N)), np.ones((1, N)), rng.standard_normal((C + H, N, past + future)))
    model = Forecaster(C, H, 2, past=past, future=future, hidden_size=3, num_layers=layers, cell=cell,
                       decoder=decoder, likelihood="student-t", seed=3)
    assert model.params["out.W"].shape == (3, 3 * H if decoder == "direct" else 3)
    _, grads, _ = model.loss_and_grads(batch)
    errors = gradcheck.check(lambda: model.loss_and_grads(batch)[0], model.params, grads)
    assert set(errors) == set(model.params) and max(errors.values()) < 1e-7, errors


def test_quantiles_equal_the_tables():
    nu = np.array([3.0, 5.0, 10.0, 30.0])
    assert np.allclose(FL.t_quantile(nu, 0.975), [3.182446305, 2.570581836, 2.228138852, 2.042272456], atol=1e-8)
    assert np.allclose(FL.t_quantile(nu, 0.1), [-1.637744354, -1.475884049, -1.372183641, -1.310415025], atol=1e-8)
    t = np.array([-1.0, 0.3, 2.0])
    assert np.allclose(FL.t_cdf(t, 2.0), 0.5 + t / (2 * np.sqrt(2 + t * t)), atol=1e-13)   # ν = 2 in closed form
    assert np.allclose(FL.digamma(np.array([1.0, 0.5])), [-0.5772156649015329, -1.9635100260214235], atol=1e-13)


def test_direct_forecast_quantiles_of_the_student_t():
    rng = np.random.default_rng(4)
    model = Forecaster(5, 3, 0, hidden_size=3, likelihood="student-t", seed=5)
    batch = ForecastBatch(rng.standard_normal((8, 2)), np.zeros((8, 2, 0)), np.ones((8, 2)), np.zeros((1, 2)),
                          np.ones((1, 2)))
    q = model.forecast(batch)
    mu, a, _, _ = model.forward(batch, training=False)
    nu, sigma = FL.dof_of(a[1]), lk.scale_of(a[0])
    assert np.array_equal(q["mean"], mu)
    assert np.allclose(FL.t_cdf((q[0.975] - mu) / sigma, nu), 0.975, atol=1e-12)
    assert np.all(q[0.025] < q[0.1]) and np.all(q[0.9] < q[0.975])


def test_a_heavy_tailed_series_trains_with_the_student_t_head(tmp_path, capsys):
    rng = np.random.default_rng(6)
    values = 10 + rng.standard_t(2.5, 160)
    (tmp_path / "t.csv").write_text("t,v\n" + "".join(f"{i},{v:.5f}\n" for i, v in enumerate(values)))
    for decoder in ("direct", "autoregressive"):
        out = tmp_path / decoder
        assert main(["train", "--task", "forecast", "--data", str(tmp_path / "t.csv"), "--likelihood", "student-t",
                     "--decoder", decoder, "--context", "8", "--horizon", "4", "--valid-length", "20", "--hidden",
                     "4", "--max-steps", "20", "--eval-every", "10", "--quiet", "--out", str(out)]) == 0
        capsys.readouterr()
        assert main(["predict", str(out)]) == 0
        rows = [line.split(",") for line in capsys.readouterr().out.splitlines()[1:]]
        assert len(rows) == 4 and all(float(r[5]) < float(r[3]) < float(r[4]) < float(r[6]) for r in rows)
