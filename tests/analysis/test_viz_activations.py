"""The activations the page shows equal the model's own step-by-step forward pass (after 8-bit quantisation,
within half a quantisation step), and the top-5 next characters are the softmax's five largest."""

import numpy as np
import pytest

from unroll.analysis import activations as A
from unroll.data.vocab import CharVocab, WordVocab
from unroll.models import LanguageModel
from unroll.nn import gru, lstm

TEXT = "To be, or not to be: that is the question.\n'Tis nobler (in the mind) to suffer\n"


def model_for(cell, vocab, seed=0):
    return LanguageModel(len(vocab), hidden_size=6, num_layers=2, cell=cell, seed=seed, dtype=np.float64)


def stepwise(model, ids):
    """Reference: each layer's cell ``step`` applied one character at a time (not the Stack's forward)."""
    module = {"lstm": lstm, "gru": gru}[model.config.cell]
    L, H = model.config.num_layers, model.config.hidden_size
    states = [(np.zeros((1, H)), np.zeros((1, H))) if module is lstm else np.zeros((1, H)) for _ in range(L)]
    hs, cs, logits = [], [], []
    for i in ids:
        x = model.params["embed.W"][[i]]
        row_h, row_c = [], []
        for l in range(L):
            p = {k.split(".")[-1]: v for k, v in model.params.items() if k.startswith(f"layer{l}.")}
            states[l] = module.step(x, p, states[l])
            h = states[l][0] if module is lstm else states[l]
            row_h.append(h[0])
            if module is lstm:
                row_c.append(np.tanh(states[l][1][0]))
            x = h
        hs.append(row_h)
        cs.append(row_c)
        logits.append(x[0] @ model.params["out.W"] + model.params["out.b"])
    return np.transpose(np.array(hs), (1, 0, 2)), np.transpose(np.array(cs), (1, 0, 2)) if cs[0] else None, np.array(logits)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_quantised_activations_equal_the_stepwise_forward_within_half_a_step(cell):
    vocab = CharVocab.from_text(TEXT)
    model = model_for(cell, vocab)
    acts = A.collect(model, vocab, TEXT)
    ref_h, ref_c, ref_logits = stepwise(model, vocab.encode(TEXT))
    assert acts.hidden.shape == (2, len(TEXT), 6)
    np.testing.assert_allclose(acts.hidden, ref_h, atol=1e-12)
    for name, ours, ref in [("h", acts.hidden, ref_h)] + ([("c", acts.cell, ref_c)] if cell == "lstm" else []):
        shown = A.dequantise(A.quantise(ours))
        assert np.abs(shown - ref).max() <= A.QUANT_STEP / 2 + 1e-12, name
    probs = np.exp(ref_logits - ref_logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    order = np.argsort(-probs, axis=1)[:, :5]
    np.testing.assert_array_equal(acts.top_ids, order)
    np.testing.assert_allclose(acts.top_probs, np.take_along_axis(probs, order, 1), atol=1e-12)
    assert (np.diff(acts.top_probs, axis=1) <= 0).all()


def test_lstm_gates_are_the_sigmoid_blocks_i_f_o():
    vocab = CharVocab.from_text(TEXT)
    model = model_for("lstm", vocab)
    acts = A.collect(model, vocab, TEXT)
    # first character from the zero state: gates = σ(E[x] W_x + b) in blocks i, f, g, o
    x = model.params["embed.W"][vocab.index("T")]
    a = x @ model.params["layer0.lstm.W_x"] + model.params["layer0.lstm.b"]
    for k, name in ((0, "i"), (1, "f"), (3, "o")):
        np.testing.assert_allclose(acts.gates[0][name][0], 1 / (1 + np.exp(-a[6 * k:6 * (k + 1)])), atol=1e-12)
    assert set(acts.gates[1]) == {"i", "f", "o"}


def test_quantise_round_trip_endpoints_and_clipping():
    q = A.quantise(np.array([-1.0, 0.0, 1.0, 3.0, -7.0]))
    np.testing.assert_array_equal(q, [0, 128, 255, 255, 0])    # 0 -> round(127.5) = 128 (half to even)
    np.testing.assert_allclose(A.dequantise(q)[[0, 2]], [-1.0, 1.0])


def test_characters_outside_the_vocabulary_are_kept_flagged_and_skipped_by_the_model():
    vocab = CharVocab.from_text("abc ")
    model = model_for("lstm", vocab)
    acts = A.collect(model, vocab, "ab€c é")
    np.testing.assert_array_equal(acts.known, [1, 1, 0, 1, 1, 0])
    assert acts.text == "ab€c é" and acts.hidden.shape[1] == 4
    ref_h, _, _ = stepwise(model, vocab.encode("abc "))
    np.testing.assert_allclose(acts.hidden, ref_h, atol=1e-12)


def test_bad_inputs_are_one_line_messages():
    vocab = CharVocab.from_text("abc")
    model = model_for("lstm", vocab)
    with pytest.raises(ValueError, match="text is empty"):
        A.collect(model, vocab, "")
    with pytest.raises(ValueError, match="no character in the model's vocabulary"):
        A.collect(model, vocab, "xyz")
    words = WordVocab.from_text("a b c")
    with pytest.raises(ValueError, match="character-level"):
        A.collect(model, words, "a b")


def test_max_chars_cuts_the_text():
    vocab = CharVocab.from_text(TEXT)
    acts = A.collect(model_for("gru", vocab), vocab, TEXT * 10, max_chars=100)
    assert len(acts.text) == 100 and acts.hidden.shape[1] == 100 and acts.cell is None
