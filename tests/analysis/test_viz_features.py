"""Features checked on hand-worked strings, and --find on a hand-built LSTM whose units copy known features."""

import numpy as np
import pytest

from unroll.analysis import activations as A
from unroll.analysis import features as F
from unroll.data.vocab import CharVocab
from unroll.models import LanguageModel


def bits(a):
    return "".join(str(int(v)) for v in a)


def test_line_position_counts_from_each_newline():
    np.testing.assert_array_equal(F.line_position("ab\ncde\n\nf"), [1, 2, 0, 1, 2, 3, 0, 0, 1])


def test_inside_quotes_opening_to_before_closing_with_escapes_apostrophes_and_triple_quotes():
    assert bits(F.inside_quotes('a "bc" d')) == "00111000"
    assert bits(F.inside_quotes("it's 'x\\'y' z")) == "0000011111000"       # apostrophe; escaped quote
    assert bits(F.inside_quotes('"ab\ncd')) == "111000"                       # a one-line quote ends at \n
    assert bits(F.inside_quotes('x = """a\nb""" + c')) == "00001111111100000"  # a triple quote spans lines


def test_quotes_split_into_one_line_strings_and_triple_quotes():
    text = 'x = """a\nb""" + "c"'
    np.testing.assert_array_equal(F.quote_kind(text), [0, 0, 0, 0, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 1, 1, 0])
    assert bits(F.inside_short_string(text)) == "0000000000000000110"
    assert bits(F.inside_triple_quotes(text)) == "0000111111110000000"


def test_bracket_depth_ignores_brackets_inside_quotes_and_never_goes_negative():
    np.testing.assert_array_equal(F.bracket_depth('f("(", [1,\n  2])'), [0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 1, 0])
    np.testing.assert_array_equal(F.bracket_depth(")a(b"), [0, 0, 1, 1])


def test_indentation_is_the_leading_white_space_read_so_far():
    np.testing.assert_array_equal(F.indentation("a\n  b c\n\td"), [0, 0, 1, 2, 2, 2, 2, 0, 4, 4])


def test_word_start_and_regex():
    assert bits(F.word_start("to be_x, 42!")) == "100100000100"
    assert bits(F.regex_feature("abcabd", "b[cd]")) == "011011"
    with pytest.raises(ValueError, match="not a regular expression"):
        F.regex_feature("abc", "(")


def test_correlate_matches_numpy_corrcoef_and_gives_zero_for_constants():
    rng = np.random.default_rng(0)
    units = rng.standard_normal((50, 4))
    units[:, 3] = 2.0
    feat = rng.standard_normal(50)
    r = F.correlate(units, {"f": feat, "const": np.ones(50)})
    for u in range(3):
        assert r[0, u] == pytest.approx(np.corrcoef(units[:, u], feat)[0, 1], abs=1e-12)
    assert r[0, 3] == 0.0 and (r[1] == 0.0).all()


TEXT = "def f(a, (b)):\n  return g(a[0], h(b))\nx = (1)\n" * 4 + "on ice\n"


def hand_built_model():
    """One-layer LSTM, embedding = identity (E = V), H = 4, every gate set from the input alone (W_h = 0):

    unit 0: i = f = 1, g = +0.05 on '(' '[' and -0.05 on ')' ']'      -> c = 0.05 · bracket depth
    unit 1: f = 0, i = 1, g = ±0.9 on a vowel / anything else           -> tanh(c) copies the regex [aeiou]
    unit 2: i = 1, f = 1 except 0 on a newline, g = 0.01 except on '\\n'  -> c = 0.01 · position in line
    unit 3: random inputs (a distractor)
    """
    vocab = CharVocab.from_text(TEXT)
    V, H = len(vocab), 4
    model = LanguageModel(V, hidden_size=H, num_layers=1, cell="lstm", embedding_size=V, seed=0, dtype=np.float64)
    p = model.params
    p["embed.W"][...] = np.eye(V)
    p["layer0.lstm.W_h"][...] = 0.0
    W, b = p["layer0.lstm.W_x"], p["layer0.lstm.b"]
    W[...] = 0.0
    b[...] = 0.0
    b[0:3] = 30.0                                         # i units 0..2 open
    b[H + 0] = b[H + 2] = 30.0                             # f units 0 and 2 keep; unit 1 forgets
    b[H + 1] = -30.0
    b[3 * H:4 * H] = 30.0                                  # o open
    g = 2 * H                                              # g block
    for ch in vocab.tokens:
        i = vocab.index(ch)
        W[i, g + 0] = np.arctanh(0.05) * ((ch in "([") - (ch in ")]"))
        W[i, g + 1] = np.arctanh(0.9) * (1 if ch in "aeiou" else -1)
        W[i, g + 2] = 0.0 if ch == "\n" else np.arctanh(0.01)
        W[i, H + 2] = -60.0 if ch == "\n" else 0.0
        W[i, g + 3] = np.random.default_rng(i).uniform(-1, 1)
    return model, vocab


def test_find_names_the_hand_built_units_with_the_independently_computed_r():
    model, vocab = hand_built_model()
    acts = A.collect(model, vocab, TEXT)
    found = F.find(acts, regex="[aeiou]")
    rows = F.best_units(found, top=1)
    best = {row["feature"]: (row["kind"], row["layer"], row["unit"], row["r"]) for row in rows}
    # independent references: the hand counts of depth, vowels and position, through tanh
    depth = np.cumsum([(ch in "([") - (ch in ")]") for ch in TEXT])
    vowel = np.array([ch in "aeiou" for ch in TEXT], float)
    pos = np.array([len(TEXT[:t + 1].rsplit("\n", 1)[-1]) for t in range(len(TEXT))])
    expect = {"bracket_depth": (0, np.corrcoef(np.tanh(0.05 * depth), depth)[0, 1]),
              "regex": (1, 1.0),
              "line_position": (2, np.corrcoef(np.tanh(0.01 * pos), pos)[0, 1])}
    for feature, (unit, r) in expect.items():
        kind, layer, got_unit, got_r = best[feature]
        assert (layer, got_unit) == (0, unit), feature
        assert got_r == pytest.approx(r, abs=1e-6), feature
    assert best["regex"][3] > 0.999999


def test_format_table_lists_layer_unit_and_r():
    rows = [{"feature": "inside_quotes", "kind": "c", "layer": 1, "unit": 17, "r": -0.734}]
    table = F.format_table(rows).splitlines()
    assert table[1].split() == ["inside_quotes", "tanh(c)", "1", "17", "-0.734"]


def test_features_constant_over_the_text_are_left_out_and_named():
    vocab = CharVocab.from_text("ab cd\n")
    model = LanguageModel(len(vocab), 3, 1, "gru", seed=0, dtype=np.float64)
    found = F.find(A.collect(model, vocab, "ab cd\nab\n"))
    assert found["constant"] == ["inside_quotes", "bracket_depth", "indentation", "inside_short_string",
                                 "inside_triple_quotes"]
    assert found["features"] == ["line_position", "word_start"] and found["r"].shape == (2, 3)
