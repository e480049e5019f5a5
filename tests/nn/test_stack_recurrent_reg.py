"""Recurrent dropout and zoneout (nn/lstm_reg.py) through the Stack and the network section: float64
centred differences on every parameter with the masks fixed by the generator's seed, evaluation that uses
zoneout's expectation in forward and in step alike, and the flags' reach (the language model) and refusal
(a model that pads sequences, a cell other than the LSTM) in one line."""

import numpy as np
import pytest

from unroll.cli import main
from unroll.models.classifier import SequenceClassifier
from unroll.models.language_model import LanguageModel
from unroll.nn.network import StackConfig
from unroll.nn.stack import Stack

T, N, D, H = 4, 3, 2, 3


def loss(stack, params, x, G, seed):
    hs, (h, c), _ = stack.forward(x, params, rng=np.random.default_rng(seed))
    return float((hs * G).sum() + h.sum() + 0.5 * c.sum())


@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_gradient_matches_centred_differences(bidirectional):
    stack = Stack("lstm", D, H, 2, bidirectional=bidirectional, recurrent_dropout=0.3, zoneout=0.25)
    rng = np.random.default_rng(0)
    params, x = stack.init(rng, np.float64), rng.standard_normal((T, N, D))
    G = rng.standard_normal((T, N, stack.dirs * H))
    hs, (h, c), cache = stack.forward(x, params, rng=np.random.default_rng(7))
    dx, _, grads = stack.backward(G, cache, (np.ones_like(h), np.full_like(c, 0.5)))
    worst, eps = 0.0, 1e-6
    for key, value in params.items():
        for i in range(value.size):
            old = value.flat[i]
            value.flat[i] = old + eps
            up = loss(stack, params, x, G, 7)
            value.flat[i] = old - eps
            down = loss(stack, params, x, G, 7)
            value.flat[i] = old
            worst = max(worst, abs((up - down) / (2 * eps) - grads[key].flat[i]))
    assert worst < 1e-7
    masked = Stack("lstm", D, H, 2, bidirectional=bidirectional)
    plain, _, _ = masked.forward(x, params)
    assert not np.allclose(hs, plain)                     # the masks acted


def test_evaluation_uses_zoneouts_expectation_in_forward_and_step_alike():
    stack = Stack("lstm", D, H, 2, zoneout=0.3, recurrent_dropout=0.5)
    rng = np.random.default_rng(1)
    params, x = stack.init(rng, np.float64), rng.standard_normal((T, N, D))
    hs, final, _ = stack.forward(x, params, training=False)
    state, outs = None, []
    for t in range(T):
        out, state = stack.step(x[t], params, state)
        outs.append(out)
    np.testing.assert_allclose(np.stack(outs), hs[..., :H], atol=1e-12)
    np.testing.assert_allclose(state[1], final[1], atol=1e-12)
    again, _, _ = stack.forward(x, params, training=False)
    np.testing.assert_array_equal(again, hs)                 # no draw at evaluation


def test_the_language_model_takes_them_from_the_command_line(tmp_path, monkeypatch, capsys):
    import json
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 10)
    common = ["train", "--data", "t.txt", "--cell", "lstm", "--hidden", "5", "--layers", "1", "--seq-len", "6",
              "--batch", "4", "--max-steps", "2", "--eval-every", "2", "--quiet"]
    assert main([*common, "--recurrent-dropout", "0.3", "--zoneout", "0.1", "--out", "r"]) == 0
    model = json.loads((tmp_path / "r" / "config.json").read_text())["network"]
    assert model["recurrent_dropout"] == 0.3 and model["zoneout"] == 0.1
    capsys.readouterr()
    assert main(["train", "--task", "classify", "--data", "x.tsv", "--zoneout", "0.1", "--out", "c"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("make, message", [
    (lambda: StackConfig(cell="gru", zoneout=0.1), "--zoneout applies to --cell lstm, not to --cell gru"),
    (lambda: StackConfig(recurrent_dropout=1.0), r"--recurrent-dropout must lie in \[0, 1\), got 1.0"),
    (lambda: SequenceClassifier(5, 2, cell="lstm", zoneout=0.1),
     r"--zoneout needs sequences of one length \(--task lm, forecast\); this model pads sequences"),
    (lambda: Stack("gru", D, H, zoneout=0.1), "recurrent dropout and zoneout are LSTM regularisers"),
])
def test_refused_in_one_line(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_embedding_fold_keeps_the_regularised_lstm_exact():
    model = LanguageModel(7, cell="lstm", hidden_size=4, num_layers=1, zoneout=0.2, recurrent_dropout=0.2, seed=3,
                          dtype=np.float64)
    ids = np.random.default_rng(0).integers(0, 7, (5, 20))
    model.fold, model.rng = True, np.random.default_rng(5)
    folded = model.forward(ids, training=True)[0]
    model.fold, model.rng = False, np.random.default_rng(5)
    np.testing.assert_allclose(model.forward(ids, training=True)[0], folded, atol=1e-12)
