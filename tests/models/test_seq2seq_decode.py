"""Free-running decoding of encoder-decoders: a hand-worked beam search, beam vs greedy properties, and
step-by-step decoding agreeing with the teacher-forced forward pass."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from unroll.decode import beam_translate, greedy_translate, sample_translate
from unroll.models.seq2seq import Seq2Seq
from unroll.nn import ops

EOS, A, B, BOS = 0, 1, 2, 3


class MarkovModel:
    """A fake decoder whose next-token distribution depends only on the previous token: P[prev] (3,)."""

    bos_id, eos_id = BOS, EOS

    def __init__(self, table):
        self.logp = np.log(np.asarray(table, dtype=float))

    def start(self, src, mask=None):
        return None, np.zeros(np.asarray(src).shape[1])

    def decode_step(self, memory, tokens, state):
        return self.logp[tokens], state, None

    def select(self, memory, state, rows):
        return memory, state[rows]


def test_hand_worked_three_tokens():
    """P(a|BOS)=.5 wins greedily, but P(b EOS) = .4 * .9 = .36 beats P(a EOS) = .5 * .4 = .2."""
    model = MarkovModel([[.98, .01, .01], [.4, .3, .3], [.9, .05, .05], [.1, .5, .4]])   # rows EOS, a, b, BOS
    greedy = greedy_translate(model, [[7]])[0]
    assert greedy.tokens == [A] and greedy.log_prob == pytest.approx(np.log(.2)) and greedy.finished
    assert beam_translate(model, [7], beam_width=1).tokens == [A]
    beam = beam_translate(model, [7], beam_width=2)
    assert beam.tokens == [B] and beam.log_prob == pytest.approx(np.log(.36))


def test_length_normalisation_changes_the_winner():
    """"" (EOS at once) has p = .4; "a" has p = .35 * .9 = .315, but per token log(.315)/2 > log(.4)/1."""
    model = MarkovModel([[.98, .01, .01], [.9, .05, .05], [.5, .25, .25], [.4, .35, .25]])
    raw = beam_translate(model, [7], beam_width=2, length_penalty=0.0)
    assert raw.tokens == [] and raw.log_prob == pytest.approx(np.log(.4))
    normalised = beam_translate(model, [7], beam_width=2, length_penalty=1.0)
    assert normalised.tokens == [A] and normalised.score == pytest.approx(np.log(.315) / 2)


def test_max_len_cuts_unfinished():
    model = MarkovModel([[.98, .01, .01], [.1, .8, .1], [.1, .1, .8], [.1, .8, .1]])
    hyp = beam_translate(model, [7], beam_width=3, max_len=4)
    assert hyp.tokens == [A, A, A, A] and not hyp.finished and hyp.log_prob == pytest.approx(4 * np.log(.8))
    assert greedy_translate(model, [[7]], max_len=4)[0].tokens == [A, A, A, A]


def random_model(seed, attention, cell):
    model = Seq2Seq(5, 6, hidden_size=4, cell=cell, attention=attention, embedding_size=3, bidirectional=seed % 2 == 0,
                    conditioning=("init", "input", "both")[seed % 3], seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed)
    model.params = {k: 2.0 * rng.standard_normal(v.shape) for k, v in model.params.items()}   # peaky outputs
    return model, rng.integers(0, 5, int(rng.integers(1, 6)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), attention=st.booleans(), cell=st.sampled_from(["lstm", "gru", "rnn"]))
def test_beam_never_below_greedy_and_k1_is_greedy(seed, attention, cell):
    model, src = random_model(seed, attention, cell)
    greedy = greedy_translate(model, src[:, None], max_len=8)[0]
    one = beam_translate(model, src, beam_width=1, max_len=8)
    assert one.tokens == greedy.tokens and one.log_prob == pytest.approx(greedy.log_prob, abs=1e-12)
    five = beam_translate(model, src, beam_width=5, max_len=8)
    assert five.log_prob >= greedy.log_prob - 1e-12


@pytest.mark.parametrize("attention", [False, True])
def test_free_running_log_prob_equals_teacher_forced(attention):
    """Σ log p of a decoded output, step by step, equals the teacher-forced forward pass on that output."""
    model, src = random_model(4, attention, "lstm")
    for hyp in (beam_translate(model, src, 3, 6), sample_translate(model, src[:, None], None, 6, 1.0,
                                                                    np.random.default_rng(0))[0]):
        out = hyp.tokens + ([model.eos_id] if hyp.finished else [])
        tgt_in = np.array([[model.bos_id] + out[:-1]]).T
        logits, _ = model.forward(src[:, None], None, tgt_in, training=False)
        logp = ops.log_softmax(logits)[np.arange(len(out)), 0, out].sum()
        assert hyp.log_prob == pytest.approx(logp, abs=1e-10)
        if attention:
            assert hyp.attention.shape == (len(out), len(src))
            np.testing.assert_allclose(hyp.attention.sum(axis=1), 1.0, atol=1e-12)


def test_bad_settings_are_one_line_errors():
    model, src = random_model(1, False, "gru")
    with pytest.raises(ValueError, match="beam_width"):
        beam_translate(model, src, beam_width=0)
    with pytest.raises(ValueError, match="max_len"):
        greedy_translate(model, src[:, None], max_len=0)
    with pytest.raises(ValueError, match="temperature"):
        sample_translate(model, src[:, None], temperature=0.0)
