"""OutputRecurrentTagger: centred differences on every parameter with variable lengths; the teacher-forced
pass equals a naive per-step loop; free running feeds its own guesses back."""

import numpy as np
import pytest

from unroll.models.output_recurrent import OutputRecurrentTagger
from unroll.nn import gradcheck

T, N, V, K = 6, 3, 5, 3
LENGTHS = np.array([6, 2, 4])


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    mask = (np.arange(T)[:, None] < LENGTHS[None]).astype(np.float64)
    return rng.integers(0, V, (T, N)), mask, rng.integers(0, K, (T, N))


@pytest.mark.parametrize("window", [0, 1, 2])
def test_gradient_check_every_parameter(window):
    model = OutputRecurrentTagger(V, K, hidden_size=4, embedding_size=3, window=window, seed=1, dtype=np.float64)
    batch = make_batch()
    _, grads, _ = model.loss_and_grads(batch)
    errors = gradcheck.check(lambda: model.loss_and_grads(batch)[0], model.params, grads, eps=1e-5)
    assert set(errors) == set(model.params)
    assert max(errors.values()) < 1e-7, errors


def naive_logits(model, ids, tags, n):
    """One sequence, step by step, straight from the equations."""
    p, w, L = model.params, model.config["window"], LENGTHS[n]
    rows, prev = [], K
    for t in range(L):
        f = np.concatenate([p["embed.W"][ids[t + j, n] if 0 <= t + j < L else V] for j in range(-w, w + 1)])
        h = np.tanh(f @ p["in.W"] + p["prev.W"][prev] + p["in.b"])
        rows.append(h @ p["out.W"] + p["out.b"])
        prev = tags[t, n]
    return np.array(rows)


def test_teacher_forced_pass_equals_the_naive_loop():
    model = OutputRecurrentTagger(V, K, hidden_size=4, embedding_size=3, window=2, seed=2, dtype=np.float64)
    ids, mask, tags = make_batch(1)
    logits, _ = model.forward(ids, model.shift(tags), mask)
    for n in range(N):
        assert np.allclose(logits[:LENGTHS[n], n], naive_logits(model, ids, tags, n), atol=1e-14, rtol=0)


def test_free_running_feeds_back_its_own_guess():
    model = OutputRecurrentTagger(V, K, hidden_size=4, embedding_size=3, window=1, seed=3, dtype=np.float64)
    ids, mask, _ = make_batch(2)
    guess = model.predict(ids, mask)
    for n in range(N):                 # teacher-forcing the model's own guesses reproduces them
        logits = naive_logits(model, ids, guess, n)
        assert np.array_equal(logits.argmax(axis=1), guess[:LENGTHS[n], n])
        assert np.all(guess[LENGTHS[n]:, n] == 0)
