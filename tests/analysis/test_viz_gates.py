"""Gate saturation: fractions counted by hand on planted gate values, and the scatter plot's points read back
from the matplotlib objects."""

import numpy as np
import pytest

from unroll.analysis import activations as A
from unroll.analysis import gates as G
from unroll.data.vocab import CharVocab
from unroll.models import LanguageModel


def planted(cell_kind="lstm"):
    """An Activations whose gates are set by hand: 2 layers, T = 10, H = 3."""
    T, H = 10, 3
    f = np.full((T, H), 0.5)
    f[:, 0] = 0.95                    # unit 0: always right-saturated
    f[:4, 1] = 0.05                   # unit 1: 4/10 left, 6/10 right
    f[4:, 1] = 0.99
    f[0, 2] = 0.1                     # the thresholds are strict: 0.1 is not < 0.1, 0.9 is not > 0.9
    f[1, 2] = 0.9
    layer = {"i": np.full((T, H), 0.02), "f": f, "o": np.full((T, H), 0.5)}
    zeros = np.zeros((2, T, H))
    return A.Activations("x" * T, np.ones(T, bool), np.zeros(T, int), cell_kind, zeros, zeros,
                         [layer, {k: 1 - v for k, v in layer.items()}], np.zeros((T, 5), int), np.zeros((T, 5)))


def test_fractions_left_and_right_saturated_per_unit():
    sat = G.saturation(planted())
    f = sat["layers"][0]["f"]
    assert f["left"] == [0.0, 0.4, 0.0] and f["right"] == [1.0, 0.6, 0.0]
    assert sat["layers"][0]["i"]["left"] == [1.0] * 3 and sat["layers"][0]["o"]["right"] == [0.0] * 3
    assert sat["layers"][1]["f"]["left"][:2] == [1.0, 0.6]              # 1 - f mirrors the picture
    assert sat["layers"][1]["f"]["mean_right"] == pytest.approx(0.4 / 3)
    assert sat["steps"] == 10 and sat["cell"] == "lstm"


def test_scatter_has_one_panel_per_layer_and_one_point_per_gate_unit_at_left_right():
    sat = G.saturation(planted())
    fig = G.scatter(sat)
    axes = fig.axes
    assert len(axes) == 2
    for l, ax in enumerate(axes):
        collections = {c.get_label(): c.get_offsets() for c in ax.collections}
        assert set(collections) == {"input gate", "forget gate", "output gate"}
        f = sat["layers"][l]["f"]
        np.testing.assert_allclose(collections["forget gate"], np.column_stack([f["left"], f["right"]]))
        assert ax.get_xlim() == pytest.approx((-0.02, 1.02))
    assert "layer 1" == axes[1].get_title()


def test_gates_of_a_real_gru_and_an_rnn_without_gates():
    vocab = CharVocab.from_text("hello world")
    gru = LanguageModel(len(vocab), 4, 1, "gru", seed=0, dtype=np.float64)
    sat = G.saturation(A.collect(gru, vocab, "hello world"))
    assert set(sat["layers"][0]) == {"r", "z"} and len(sat["layers"][0]["z"]["left"]) == 4
    rnn = LanguageModel(len(vocab), 4, 1, "rnn", seed=0, dtype=np.float64)
    with pytest.raises(ValueError, match="needs an LSTM or GRU"):
        G.saturation(A.collect(rnn, vocab, "hello"))
