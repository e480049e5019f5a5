"""Tests that a plausible wrong implementation fails (issue #21, second pass): attention that scores padded
source positions, scheduled sampling that feeds the gold history (or never switches on), dropout left on at
evaluation or prediction, and a conditioning mode that ignores the condition once its h0 path is zeroed.
(The MPI reduction that weights ranks instead of tokens: tests/train/test_distributed.py.) float64."""

from functools import partial

import numpy as np
import pytest

from unroll.models.classifier import SequenceClassifier as _Classifier
from unroll.models.generator import ConditionalGenerator
from unroll.models.language_model import LanguageModel
from unroll.models.seq2seq import Seq2Seq, scheduled_sampling_prob
from unroll.models.tagger import SequenceTagger as _Tagger

# The model's defaults are --task tag's (H 64, E 32); these tests pin the sizes they were written for.
SequenceTagger = partial(_Tagger, hidden_size=128, embedding_size=None)

# The model's defaults are --task classify's (GRU 100 x 2 directions, embedding 128, max readout, dropout 0.5 /
# 0.3); these tests were written for, and pin, the plain model: one LSTM direction, last readout, no dropout.
SequenceClassifier = partial(_Classifier, hidden_size=128, embedding_size=None, cell="lstm", bidirectional=False,
                             readout="last", dropout=0.0, embedding_dropout=0.0)

F64 = np.float64


# ----------------------------------------------------------------------------------------------------
# Attention never looks at padding.

@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_padded_source_gives_the_logits_of_the_unpadded_one_and_no_weight_on_padding(bidirectional):
    model = Seq2Seq(7, 6, hidden_size=5, cell="gru", bidirectional=bidirectional, conditioning="both",
                    attention=True, bos_id=1, eos_id=2, seed=3, dtype=F64)
    rng = np.random.default_rng(0)
    short, tgt_in = np.array([[3], [4], [5]]), np.array([[1], [3], [4], [5]])
    src = rng.integers(0, 7, (8, 2))                   # column 0: `short`, then 5 steps of random padding ids
    src[:3, 0] = short[:, 0]
    mask = np.ones((8, 2))
    mask[3:, 0] = 0
    alone, _ = model.forward(short, np.ones((3, 1)), tgt_in, training=False)
    padded, _ = model.forward(src, mask, np.repeat(tgt_in, 2, axis=1), training=False)
    np.testing.assert_allclose(padded[:, 0], alone[:, 0], rtol=1e-12, atol=1e-13)
    memory, state = model.start(src, mask)
    for u in range(tgt_in.shape[0]):
        _, state, alpha = model.decode_step(memory, np.repeat(tgt_in[u], 2), state)
        assert np.all(alpha[0, 3:] == 0.0) and abs(alpha[0].sum() - 1) < 1e-12 and np.all(alpha[1] > 0)


# ----------------------------------------------------------------------------------------------------
# Scheduled sampling trains on the mixed history, and the task switches it on.

def test_scheduled_sampling_trains_on_the_mixed_history_not_the_gold_one():
    model = Seq2Seq(6, 6, hidden_size=5, cell="lstm", conditioning="both", attention=True, seed=1, dtype=F64)
    rng = np.random.default_rng(1)
    src, src_mask = rng.integers(3, 6, (4, 3)), np.ones((4, 3))
    tgt_out = rng.integers(3, 6, (6, 3))
    tgt_in = np.concatenate([np.ones((1, 3), int), tgt_out[:-1]])
    batch = (src, src_mask, tgt_in, tgt_out, np.ones((6, 3)))
    model.sampling_prob = 0.7
    model.rng = np.random.default_rng(5)
    mixed = model.scheduled_inputs(src, src_mask, tgt_in)
    assert (mixed != tgt_in).any() and (mixed[0] == tgt_in[0]).all()
    model.rng = np.random.default_rng(5)
    loss, grads, _ = model.loss_and_grads(batch)
    model.sampling_prob = 0.0
    expect, expect_grads, _ = model.loss_and_grads((src, src_mask, mixed, tgt_out, batch[4]))
    gold, _, _ = model.loss_and_grads(batch)
    assert loss == pytest.approx(expect, rel=1e-13) and loss != pytest.approx(gold, rel=1e-6)
    for key in grads:
        np.testing.assert_allclose(grads[key], expect_grads[key], rtol=1e-11, atol=1e-14)


def test_the_scheduled_sampling_flag_switches_sampling_on(tmp_path):
    from unroll.config import TrainConfig
    from unroll.models.seq2seq import NETWORK
    from unroll.tasks.seq2seq import PairDataConfig, Seq2SeqConfig, Seq2SeqTask
    (tmp_path / "p.tsv").write_text("".join(f"{s}\t{s[::-1]}\n" for s in ("abc", "bca", "cab", "abb", "bba") * 8))
    train = TrainConfig(batch_size=4, max_steps=1)
    grads = {}
    for k in (0.0, 20.0):
        task = Seq2SeqTask({"train": train, "pairs": PairDataConfig(data=str(tmp_path / "p.tsv")),
                            "seq2seq": Seq2SeqConfig(scheduled_sampling=k), "network": NETWORK(hidden_size=6)})
        task.prepare()
        batches, model = task.batches(train), task.build_model(0, F64)
        for _ in range(40):
            batch = next(batches)
        _, grads[k], _ = task.loss_and_grads(model, batch)
        assert model.sampling_prob == (scheduled_sampling_prob(40, k) if k else 0.0)
    assert scheduled_sampling_prob(40, 20.0) > 0.25
    assert any(not np.allclose(grads[0.0][key], grads[20.0][key]) for key in grads[0.0])


# ----------------------------------------------------------------------------------------------------
# Dropout is off whenever a model evaluates or predicts.

def without_dropout(build, **kw):
    """(a model with dropout 0.5, the same model with dropout 0 and the same parameters)."""
    noisy, plain = build(dropout=0.5, **kw), build(dropout=0.0, **kw)
    for key, value in noisy.params.items():
        plain.params[key][...] = value
    return noisy, plain


def test_dropout_is_off_in_every_model_at_evaluation_and_prediction():
    rng = np.random.default_rng(2)
    ids, mask = rng.integers(0, 9, (5, 3)), np.ones((5, 3))
    mask[3:, 0] = 0
    cases = {
        "classifier": (lambda dropout: SequenceClassifier(9, 3, hidden_size=6, num_layers=2, dropout=dropout, seed=0, dtype=F64,
                                                          embedding_dropout=dropout), lambda m: m.predict_proba(ids, mask)),
        "tagger": (lambda dropout: SequenceTagger(9, 3, hidden_size=6, num_layers=2, dropout=dropout, seed=0, dtype=F64),
                   lambda m: m.predict_proba(ids, mask)),
        "generator": (lambda dropout: ConditionalGenerator(9, num_classes=2, hidden_size=6, num_layers=2,
                                                           dropout=dropout, seed=0, dtype=F64),
                      lambda m: m.forward(np.array([0, 1, 0]), ids, mask, training=False)[0]),
        "seq2seq": (lambda dropout: Seq2Seq(9, 9, 6, num_layers=2, attention=True, dropout=dropout, seed=0, dtype=F64),
                    lambda m: m.forward(ids, mask, ids, training=False)[0]),
        "language model": (lambda dropout: LanguageModel(9, 6, num_layers=2, dropout=dropout, seed=0, dtype=F64),
                           lambda m: np.array(m.evaluate(ids, ids, None, mask)[:2])),
    }
    for name, (build, predict) in cases.items():
        noisy, plain = without_dropout(build)
        first = predict(noisy)
        np.testing.assert_array_equal(first, predict(noisy), err_msg=name)       # deterministic
        np.testing.assert_allclose(first, predict(plain), rtol=1e-13, atol=1e-15, err_msg=name)
    noisy, plain = without_dropout(lambda dropout: LanguageModel(9, 6, num_layers=2, dropout=dropout, seed=0, dtype=F64))
    sample = lambda m: list(m.generate(np.array([1, 2]), 12, greedy=True))       # noqa: E731
    assert sample(noisy) == sample(plain) == sample(noisy)
    noisy, plain = without_dropout(lambda dropout: ConditionalGenerator(9, num_classes=2, hidden_size=6, num_layers=2,
                                                                        dropout=dropout, seed=0, dtype=F64))
    generate = lambda m: list(m.generate(1, bos=0, eos=8, max_len=10, greedy=True))   # noqa: E731
    assert generate(noisy) == generate(plain) == generate(noisy)


# ----------------------------------------------------------------------------------------------------
# Conditioning modes, by structure.

@pytest.mark.parametrize("mode, depends", [("both", True), ("input", True), ("first", True), ("h0", False)])
def test_with_the_h0_weights_zeroed_only_the_input_modes_still_depend_on_the_condition(mode, depends):
    model = ConditionalGenerator(7, num_classes=3, mode=mode, hidden_size=5, seed=4, dtype=F64)
    if "h0.W" in model.params:
        model.params["h0.W"][...] = 0.0
        model.params["h0.b"][...] = 0.0
    inputs = np.array([[0, 0], [3, 3], [4, 4]])
    logits, _ = model.forward(np.array([0, 2]), inputs, np.ones((3, 2)), training=False)
    differ = np.abs(logits[:, 0] - logits[:, 1]).max()
    assert (differ > 1e-6) == depends, differ
    if mode in ("both", "h0"):
        assert "h0.W" in model.params
