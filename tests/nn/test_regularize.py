"""Weight drop (DropConnect on W_h) and locked dropout at the stack level: float64 centred differences with
the masks held fixed, the backward rule dW_h = dW̃_h ⊙ M / (1 - p) line by line, one mask for every step,
and evaluation that is deterministic and equal to a dropout-free copy."""

from functools import partial

import numpy as np
import pytest

from unroll.models.classifier import ClassifyBatch
from unroll.models.language_model import LanguageModel
from unroll.nn import gradcheck, regularize
from unroll.nn.gradcheck import contract, upstream
from unroll.nn.stack import Stack
from unroll.models.classifier import SequenceClassifier as _Classifier

# The model's defaults are --task classify's (GRU 100 x 2 directions, embedding 128, max readout, dropout 0.5 /
# 0.3); these tests were written for, and pin, the plain model: one LSTM direction, last readout, no dropout.
SequenceClassifier = partial(_Classifier, hidden_size=128, embedding_size=None, cell="lstm", bidirectional=False,
                             readout="last", dropout=0.0, embedding_dropout=0.0)

T, N, D, H = 5, 3, 4, 3
MASK = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 0, 0]], float)


def problem(stack, seed=0):
    rng = np.random.default_rng(seed)
    params = stack.init(rng, np.float64)
    x = rng.standard_normal((T, N, D))
    return params, x, rng


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradient_check_with_weight_drop_and_locked_dropout(cell, bidirectional):
    stack = Stack(cell, D, H, num_layers=2, bidirectional=bidirectional, dropout=0.4, weight_drop=0.5, locked=True)
    params, x, rng = problem(stack)
    hs, _, cache = stack.forward(x, params, None, MASK, rng=np.random.default_rng(7))
    G = upstream(hs, rng)

    def loss():
        out, _, _ = stack.forward(x, params, None, MASK, rng=np.random.default_rng(7))   # the same masks
        return contract(out, G)

    dx, _, grads = stack.backward(G, cache)
    assert all(k is not None for layer in cache.weight_keeps for k in layer)
    assert any((k == 0).any() for layer in cache.weight_keeps for k in layer)   # some weights really dropped
    errors = gradcheck.check(loss, {"x": x, **params}, {"x": dx, **grads}, eps=1e-5)
    assert max(errors.values()) < 1e-7, errors


def test_weight_drop_backward_is_the_masked_gradient_of_the_dropped_weights():
    """dW_h = dW̃_h ⊙ M/(1-p): run a plain stack with W̃_h in place of W_h and compare every gradient."""
    stack = Stack("lstm", D, H, weight_drop=0.3)
    params, x, rng = problem(stack)
    hs, _, cache = stack.forward(x, params, None, MASK, rng=np.random.default_rng(3))
    keep = cache.weight_keeps[0][0]
    W_dropped, again = regularize.weight_drop(params["layer0.lstm.W_h"], 0.3, np.random.default_rng(3))
    assert np.array_equal(keep, again) and set(np.unique(keep)) <= {0.0, 1 / 0.7}
    plain = Stack("lstm", D, H)
    hs_plain, _, plain_cache = plain.forward(x, {**params, "layer0.lstm.W_h": W_dropped}, None, MASK)
    assert np.array_equal(hs, hs_plain)
    G = upstream(hs, rng)
    dx, _, grads = stack.backward(G, cache)
    dx_p, _, grads_p = plain.backward(G, plain_cache)
    assert np.array_equal(dx, dx_p)
    assert np.array_equal(grads["layer0.lstm.W_h"], grads_p["layer0.lstm.W_h"] * keep)
    for k in ("layer0.lstm.W_x", "layer0.lstm.b"):
        assert np.array_equal(grads[k], grads_p[k])


def test_locked_dropout_is_one_mask_for_every_step():
    x = np.ones((T, N, D))
    y, keep = regularize.locked_dropout(x, 0.5, np.random.default_rng(0))
    assert keep.shape == (1, N, D)
    assert all(np.array_equal(y[t], y[0]) for t in range(T)) and (y[0] == 0).any() and (y[0] == 2).any()
    stack = Stack("gru", D, H, num_layers=2, dropout=0.5, locked=True)
    params, x, _ = problem(stack)
    _, _, cache = stack.forward(x, params, None, MASK, rng=np.random.default_rng(1))
    assert cache.keeps[1].shape == (1, N, H)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_evaluation_is_deterministic_and_equals_a_dropout_free_copy(cell):
    stack = Stack(cell, D, H, num_layers=2, bidirectional=True, dropout=0.5, weight_drop=0.5, locked=True)
    params, x, _ = problem(stack)
    plain = Stack(cell, D, H, num_layers=2, bidirectional=True)
    a, sa, ca = stack.forward(x, params, None, MASK, rng=np.random.default_rng(1), training=False)
    b, _, _ = stack.forward(x, params, None, MASK, rng=np.random.default_rng(2), training=False)
    c, sc, _ = plain.forward(x, params, None, MASK)
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert ca.weight_keeps == [[None, None], [None, None]]
    train, _, _ = stack.forward(x, params, None, MASK, rng=np.random.default_rng(1))
    assert not np.allclose(train, c)                                         # training does drop


def test_language_model_gradient_check_and_evaluation():
    model = LanguageModel(11, hidden_size=3, num_layers=2, cell="lstm", dropout=0.3, seed=2, dtype=np.float64,
                          embedding_size=4, weight_drop=0.4, locked_dropout=True)
    model.fold = False
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, 11, (6, 2)), rng.integers(0, 11, (6, 2))

    def loss_and_grads():
        model.rng = np.random.default_rng(9)
        return model.loss_and_grads(ids, targets)

    out = loss_and_grads()
    errors = gradcheck.check(lambda: loss_and_grads()[0], model.params, out[1], eps=1e-5)
    assert max(errors.values()) < 1e-7, errors
    plain = LanguageModel(11, hidden_size=3, num_layers=2, cell="lstm", seed=2, dtype=np.float64, embedding_size=4)
    plain.params = model.params
    assert np.array_equal(model.forward(ids, training=False)[0], plain.forward(ids, training=False)[0])


def test_classifier_gradient_check_with_locked_embedding_dropout():
    model = SequenceClassifier(9, 2, hidden_size=2, embedding_size=3, num_layers=2, cell="gru", bidirectional=True,
                               readout="max", dropout=0.3, embedding_dropout=0.4, seed=5, dtype=np.float64,
                               weight_drop=0.3, locked_dropout=True)
    rng = np.random.default_rng(1)
    batch = ClassifyBatch(rng.integers(0, 9, (T, N)), MASK, rng.integers(0, 2, N))

    def loss_and_grads():
        model.rng = np.random.default_rng(9)
        return model.loss_and_grads(batch)

    _, grads, _ = loss_and_grads()
    errors = gradcheck.check(lambda: loss_and_grads()[0], model.params, grads, eps=1e-5)
    assert max(errors.values()) < 1e-7, errors
    plain = SequenceClassifier(9, 2, hidden_size=2, embedding_size=3, num_layers=2, cell="gru", bidirectional=True,
                               readout="max", seed=5, dtype=np.float64)
    plain.params = model.params
    assert np.array_equal(model.predict_proba(batch.ids, MASK), plain.predict_proba(batch.ids, MASK))


def test_bad_rates_are_one_line_errors():
    with pytest.raises(ValueError, match=r"^weight_drop must be a number in \[0, 1\), got 1.0$"):
        Stack("lstm", D, H, weight_drop=1.0)
    with pytest.raises(ValueError, match="explicit rng"):
        regularize.weight_drop(np.ones((2, 2)), 0.5, None)


def test_cli_flags_reach_the_model(tmp_path, monkeypatch, capsys):
    import json
    from unroll.cli import main
    from unroll.runs import run
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 20)
    common = ["train", "--data", "t.txt", "--cell", "lstm", "--hidden", "6", "--layers", "2", "--seq-len", "8",
              "--batch", "4", "--max-steps", "4", "--eval-every", "2", "--dropout", "0.2", "--quiet"]
    assert main([*common, "--out", "plain"]) == 0
    assert main([*common, "--weight-drop", "0.5", "--locked-dropout", "--out", "wd"]) == 0
    model = json.loads((tmp_path / "wd" / "config.json").read_text())["network"]
    assert model["weight_drop"] == 0.5 and model["locked_dropout"] is True
    a, b = run.load(tmp_path / "plain", "last")[1], run.load(tmp_path / "wd", "last")[1]
    assert not np.array_equal(a.params["layer0.lstm.W_h"], b.params["layer0.lstm.W_h"])
    capsys.readouterr()
    assert main([*common, "--weight-drop", "1", "--out", "bad"]) == 2
    assert capsys.readouterr().err == "unroll: error: --weight-drop must lie in [0, 1), got 1.0\n"
    assert not (tmp_path / "bad").exists()
