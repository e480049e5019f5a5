"""Decoding against independent references: draws against softmax(logits / τ) computed here (chi-square,
fixed seeds), top-k against the k largest logits, greedy against argmax of a full forward pass, beam
search against a hand-worked bigram table and exhaustive enumeration, step_logits against forward."""

import itertools

import numpy as np
import pytest

from unroll import decode
from unroll.models import LanguageModel

# Upper 0.1% points of the chi-square distribution (any statistics table): a correct sampler fails one
# of these tests with probability 1e-3 per seed, and the seeds are fixed, so the outcome never changes.
CHI2_999 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467}
DRAWS = 20_000


def chi_square(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = DRAWS * probs
    return float(((counts - expected) ** 2 / expected).sum())


def draw_counts(logits, draws=DRAWS, seed=0, **options) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = [decode.next_token(logits, rng=rng, **options) for _ in range(draws)]
    return np.bincount(ids, minlength=logits.size)


LOGITS = np.array([1.0, -0.5, 2.0, 0.3, -1.2])


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sampling_follows_softmax_of_logits_over_temperature(temperature):
    probs = np.exp(LOGITS / temperature) / np.exp(LOGITS / temperature).sum()
    counts = draw_counts(LOGITS, temperature=temperature, seed=int(temperature * 10))
    assert chi_square(counts, probs) < CHI2_999[4], (counts, DRAWS * probs)
    flat = np.full(5, 0.2)   # and the draws do tell distributions apart: uniform is far off
    assert chi_square(counts, flat) > 10 * CHI2_999[4]


def test_top_k_keeps_the_k_largest_logits_renormalised():
    counts = draw_counts(LOGITS, temperature=1.0, top_k=2, seed=3)
    assert counts[[1, 3, 4]].sum() == 0                      # only ids 2 (logit 2.0) and 0 (logit 1.0)
    p = 1.0 / (1.0 + np.exp(-1.0))                            # e^2 / (e^2 + e^1)
    assert chi_square(counts[[2, 0]], np.array([p, 1 - p])) < CHI2_999[1]
    counts = draw_counts(LOGITS, temperature=0.7, top_k=3, seed=4)
    assert counts[[1, 4]].sum() == 0
    kept = np.exp(LOGITS[[2, 0, 3]] / 0.7)
    assert chi_square(counts[[2, 0, 3]], kept / kept.sum()) < CHI2_999[2]
    assert np.array_equal(draw_counts(LOGITS, draws=200, top_k=1, seed=5), [0, 0, 200, 0, 0])
    assert np.count_nonzero(draw_counts(LOGITS, top_k=5, seed=6)) == 5   # k = V keeps every token


def test_greedy_is_argmax_and_bad_settings_are_named():
    assert decode.next_token(LOGITS, greedy=True) == 2
    assert decode.next_token(LOGITS, temperature=1e-4, rng=np.random.default_rng(0)) == 2
    for kwargs, match in [(dict(length=-1), "length"), (dict(temperature=0.0), "temperature"),
                          (dict(top_k=0), "top_k")]:
        with pytest.raises(ValueError, match=match):
            decode.check_settings(**(dict(length=3, temperature=1.0, top_k=None) | kwargs))


# ----------------------------------------------------------------------------------------------------
# Models.

def tiny_lm(cell, layers=2, seed=0, V=6):
    return LanguageModel(vocab_size=V, hidden_size=5, num_layers=layers, cell=cell, seed=seed, dtype=np.float64,
                         embedding_size=4)


def sequence_logprob(model, prime, continuation) -> float:
    """log p(continuation | prime) from one full forward pass over prime + continuation (no step_logits)."""
    ids = np.array(list(prime) + list(continuation)).reshape(-1, 1)
    logits, _, _ = model.forward(ids, None, training=False)
    logits = logits[:, 0].astype(np.float64)
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
    positions = np.arange(len(prime) - 1, len(prime) + len(continuation) - 1)
    return float(logp[positions, continuation].sum())


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_step_logits_equal_the_forward_pass(cell):
    model = tiny_lm(cell, layers=2)
    ids = np.random.default_rng(1).integers(0, 6, (7, 3))
    logits, _, _ = model.forward(ids, None, training=False)
    _, state, _ = model.forward(ids[:2], None, training=False)
    for t in range(2, 7):
        step, state = model.step_logits(ids[t], state)
        np.testing.assert_allclose(step, logits[t], rtol=1e-12, atol=1e-13)
    first, _ = model.step_logits(ids[0], None)                # None: zero state, like forward's default
    np.testing.assert_allclose(first, logits[0], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_stepper_folds_layer_0_and_equals_step_logits(cell, monkeypatch):
    """A decoding run's stepper gathers layer 0's x_t W_x + b from a table made once (E W_x + b) instead of
    the product: the same logits and states as step_logits (float64, 1e-12), and the same samples."""
    model = tiny_lm(cell, layers=2)
    ids = np.random.default_rng(1).integers(0, 6, (7, 3))
    step = model.stepper()
    assert step != model.step_logits
    products = []
    real_step = model.stack.kind.load().step
    monkeypatch.setattr(model.stack.kind.load(), "step",
                        lambda x_t, *a, **k: products.append(x_t is None) or real_step(x_t, *a, **k))
    folded = unfolded = None
    for t in range(7):
        got, folded = step(ids[t], folded)
        expected, unfolded = model.step_logits(ids[t], unfolded)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)
    assert products == [True, False, False, False] * 7          # layer 0 of the stepper: no x_t to multiply
    monkeypatch.undo()
    sampled, beam = list(model.sample([1, 4], 30, seed=3)), decode.beam_search(model, [1, 4], 5, 3)
    monkeypatch.setattr(type(model), "stepper", lambda self: self.step_logits)   # as before the fold
    assert list(model.sample([1, 4], 30, seed=3)) == sampled
    assert decode.beam_search(model, [1, 4], 5, 3)[0] == beam[0]


def test_a_cell_without_the_fold_steps_as_before():
    model = LanguageModel(vocab_size=6, hidden_size=4, num_layers=1, cell="leaky", dtype=np.float64)
    assert model.stepper() == model.step_logits
    with pytest.raises(ValueError, match="xw0 .* needs a cell that takes one; 'leaky' does not"):
        model.stack.step(None, model._stack_params(), None, xw0=np.zeros((1, 4)))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_greedy_generation_is_argmax_of_a_fresh_forward_pass_at_every_step(cell):
    model = tiny_lm(cell, seed=2)
    prime = [1, 4, 2]
    out = list(model.generate(prime, 8, greedy=True))
    for t, token in enumerate(out):
        logits, _, _ = model.forward(np.array(prime + out[:t]).reshape(-1, 1), None, training=False)
        assert token == int(np.argmax(logits[-1, 0]))
    assert list(model.sample(prime, 8, top_k=1, seed=9)) == out          # top-k = 1 is greedy
    assert list(model.sample(prime, 8, temperature=1e-6, seed=9)) == out


def test_top_k_sampling_only_emits_the_k_most_likely_next_tokens():
    model = tiny_lm("gru", seed=3)
    prime = [0, 5]
    for seed in range(4):
        out = list(model.sample(prime, 12, top_k=2, seed=seed))
        for t, token in enumerate(out):
            logits, _, _ = model.forward(np.array(prime + out[:t]).reshape(-1, 1), None, training=False)
            assert token in np.argsort(logits[-1, 0])[-2:]


class Bigram:
    """A model whose next-token distribution depends only on the last token: P[last] (V,) rows of a table.
    The state is (1, N, 1) holding the last token, with the batch on axis 1 like a Stack's."""

    def __init__(self, table):
        self.logp = np.log(np.asarray(table, dtype=np.float64))

    def forward(self, ids, state, training=False):
        return self.logp[ids], ids[-1][None, :, None].astype(np.float64), None

    def step_logits(self, ids, state):
        return self.logp[ids], ids[None, :, None].astype(np.float64)


# From 0: P(1) = 0.5 is the greedy pick, but from 1 the best is 0.34, while 2 -> 2 has 0.4 * 0.9 = 0.36.
TABLE = [[0.1, 0.5, 0.4],
         [0.34, 0.33, 0.33],
         [0.05, 0.05, 0.9]]


def test_beam_search_on_a_hand_worked_three_token_table():
    model = Bigram(TABLE)
    greedy = list(decode.generate(model, [0], 2, greedy=True))
    assert greedy == [1, 0]                                   # 0.5 * 0.34 = 0.17
    ids, score = decode.beam_search(model, [0], 2, beam_width=1)
    assert ids == [1, 0] and score == pytest.approx(np.log(0.17), rel=1e-12)
    ids, score = decode.beam_search(model, [0], 2, beam_width=2)
    assert ids == [2, 2] and score == pytest.approx(np.log(0.36), rel=1e-12)
    ids, score = decode.beam_search(model, [0], 3, beam_width=2)   # 2 2 2: 0.4 * 0.9 * 0.9 = 0.324
    assert ids == [2, 2, 2] and score == pytest.approx(np.log(0.324), rel=1e-12)


def test_a_beam_as_wide_as_all_prefixes_finds_the_exhaustive_optimum():
    rng = np.random.default_rng(4)
    table = rng.dirichlet(np.ones(4), size=4)
    model, L = Bigram(table), 3
    best = max(itertools.product(range(4), repeat=L),
               key=lambda seq: sum(np.log(table[a, b]) for a, b in zip((2,) + seq, seq)))
    ids, score = decode.beam_search(model, [2], L, beam_width=4 ** (L - 1))
    assert tuple(ids) == best
    assert score == pytest.approx(sum(np.log(table[a, b]) for a, b in zip((2,) + best, best)), rel=1e-12)


@pytest.mark.parametrize("cell, seed", [("lstm", 0), ("lstm", 1), ("gru", 2), ("rnn", 3)])
def test_beam_scores_are_true_log_probabilities_and_not_below_greedy(cell, seed):
    """Beam width 1 is greedy; the returned score is log p(ids | prime) from a full forward pass; on these
    models a wider beam never does worse than greedy (not a theorem in general, but true for every case here)."""
    model = tiny_lm(cell, seed=seed)
    prime, L = [3, 1], 6
    greedy = list(model.generate(prime, L, greedy=True))
    ids, score = decode.beam_search(model, prime, L, beam_width=1)
    assert ids == greedy
    assert score == pytest.approx(sequence_logprob(model, prime, greedy), rel=1e-10)
    for width in (2, 4):
        ids, score = decode.beam_search(model, prime, L, beam_width=width)
        assert score == pytest.approx(sequence_logprob(model, prime, ids), rel=1e-10)
        assert score >= sequence_logprob(model, prime, greedy) - 1e-12


def test_beam_search_bad_settings():
    with pytest.raises(ValueError, match="beam_width"):
        decode.beam_search(Bigram(TABLE), [0], 2, beam_width=0)
    with pytest.raises(ValueError, match="prime"):
        decode.beam_search(Bigram(TABLE), [], 2)
