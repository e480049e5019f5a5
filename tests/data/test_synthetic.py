"""Adding and copying-memory generators: structure of every sequence, and the baseline losses recomputed from
their definitions (the adding baseline by Monte Carlo, the copying baseline from the optimal memoryless
predictor estimated on samples)."""

import numpy as np
import pytest

from unroll.data import synthetic as tasks


@pytest.mark.parametrize("T", [2, 3, 10, 51])
def test_adding_problem_structure(T):
    N = 500
    x, y = tasks.adding_problem(T, N, np.random.default_rng(0))
    assert x.shape == (T, N, 2) and y.shape == (N, 1) and x.dtype == np.float32
    values, markers = x[..., 0], x[..., 1]
    assert np.all((values >= 0) & (values < 1))
    assert np.all(markers.sum(axis=0) == 2)
    half = T // 2
    assert np.all(markers[:half].sum(axis=0) == 1) and np.all(markers[half:].sum(axis=0) == 1)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=0), rtol=1e-6)


def test_adding_baseline_is_the_mse_of_always_answering_one():
    """Monte Carlo: mean (y - 1)² over 400 000 sequences ≈ 1/6, within 4 standard errors."""
    _, y = tasks.adding_problem(20, 400_000, np.random.default_rng(1), np.float64)
    sq = (y[:, 0] - 1.0) ** 2
    assert abs(sq.mean() - tasks.adding_baseline_mse()) < 4 * sq.std() / np.sqrt(sq.size)
    assert abs(tasks.adding_baseline_mse() - 0.1667) < 1e-4
    assert abs(y.mean() - 1.0) < 0.005                         # 1 is the best constant answer


def test_adding_markers_cover_both_halves_uniformly():
    T = 10
    x, _ = tasks.adding_problem(T, 50_000, np.random.default_rng(2))
    freq = x[..., 1].mean(axis=1)                              # P(marker at step t)
    np.testing.assert_allclose(freq, 1.0 / (T // 2), atol=0.01)


@pytest.mark.parametrize("T", [1, 5, 30])
def test_copying_problem_structure(T):
    N = 200
    x, y = tasks.copying_problem(T, N, np.random.default_rng(3))
    L = T + 20
    assert x.shape == (L, N, 10) and y.shape == (L, N)
    np.testing.assert_array_equal(x.sum(axis=-1), 1.0)
    ids = x.argmax(axis=-1)
    assert np.all((ids[:10] >= 1) & (ids[:10] <= 8))           # 10 data symbols
    assert np.all(ids[10:10 + T - 1] == 0)                     # T - 1 blanks
    assert np.all(ids[10 + T - 1] == 9)                        # the delimiter
    assert np.all(ids[10 + T:] == 0)                           # 10 blanks
    assert np.all(y[:T + 10] == 0)                             # T + 10 blanks, then the copy
    np.testing.assert_array_equal(y[T + 10:], ids[:10])


@pytest.mark.parametrize("T", [10, 100])
def test_copying_baseline_equals_the_loss_of_the_best_memoryless_predictor(T):
    """The best predictor that ignores the input outputs, at each step, the marginal distribution of the
    target there; its cross-entropy averaged over all T + 20 steps, estimated on samples, is 10 ln 8 / (T + 20)."""
    N = 40_000
    _, y = tasks.copying_problem(T, N, np.random.default_rng(4))
    probs = np.stack([np.bincount(y[t], minlength=10) / N for t in range(T + 20)])   # (T+20, 10)
    ce = -np.mean(np.log(probs[np.arange(T + 20)[:, None], y]))
    assert abs(ce - tasks.copying_baseline_loss(T)) < 2e-3 * tasks.copying_baseline_loss(T) + 1e-3
    assert tasks.copying_baseline_loss(T) == pytest.approx(10 * np.log(8) / (T + 20), rel=1e-15)


def test_copying_uniform_guess_on_the_last_ten_steps_gives_the_baseline_exactly():
    T = 40
    _, y = tasks.copying_problem(T, 64, np.random.default_rng(5))
    logp = np.full((T + 20, 64, 10), -np.inf)
    logp[:T + 10, :, 0] = 0.0                                  # certain blank
    logp[T + 10:, :, 1:9] = -np.log(8)                         # uniform over the 8 data symbols
    ce = -np.take_along_axis(logp, y[..., None], axis=-1).mean()
    assert ce == pytest.approx(tasks.copying_baseline_loss(T), rel=1e-12)


def test_same_seed_same_data_and_bad_sizes():
    a = tasks.adding_problem(8, 4, np.random.default_rng(6))
    b = tasks.adding_problem(8, 4, np.random.default_rng(6))
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="T >= 2"):
        tasks.adding_problem(1, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="T >= 1"):
        tasks.copying_problem(0, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, V\)"):
        tasks.one_hot(np.array([[3]]), 3)
