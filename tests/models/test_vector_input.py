"""Vector input (models/inputs.py) in the classifier, the tagger and the seq2seq encoder: float64 centred
differences on every parameter with variable lengths (masks), padding that changes nothing, and parity with
torch.nn (nn.Linear -> tanh -> nn.LSTM (packed) -> readout -> nn.Linear) at 1e-10."""

from functools import partial

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from unroll.interop import torch_weights as tw
from unroll.models.classifier import ClassifyBatch
from unroll.models.classifier import SequenceClassifier as _Classifier
from unroll.models.inputs import VectorInput
from unroll.models.seq2seq import Seq2Seq
from unroll.models.tagger import SequenceTagger as _Tagger
from unroll.models.tagger import TagBatch
from unroll.nn import gradcheck

# The model's defaults are --task classify's (GRU 100 x 2 directions, embedding 128, max readout, dropout 0.5 /
# 0.3); these tests were written for, and pin, the plain model: one LSTM direction, last readout, no dropout.
SequenceClassifier = partial(_Classifier, hidden_size=128, embedding_size=None, cell="lstm", bidirectional=False,
                             readout="last", dropout=0.0, embedding_dropout=0.0)

# The model's defaults are --task tag's (H 64, E 32); these tests pin the sizes they were written for.
SequenceTagger = partial(_Tagger, hidden_size=128, embedding_size=None)

T, N, D, C = 5, 3, 4, 3
LENGTHS = np.array([5, 2, 3])
MASK = (np.arange(T)[:, None] < LENGTHS[None]).astype(np.float64)


def vectors(seed=0, pad_value=0.0):
    x = np.random.default_rng(seed).standard_normal((T, N, D))
    return np.where(MASK[:, :, None] > 0, x, pad_value)


def errors(model, batch, eps=1e-5):
    _, grads, _ = model.loss_and_grads(batch)
    assert set(grads) == set(model.params)
    return gradcheck.check(lambda: model.loss_and_grads(batch)[0], model.params, grads, eps=eps)


@pytest.mark.parametrize("kind,activation", [("linear", "tanh"), ("mlp", "tanh"), ("mlp", "relu")])
@pytest.mark.parametrize("readout,bidirectional", [("last", False), ("last", True), ("mean", True), ("max", False)])
def test_classifier_gradient_check(kind, activation, readout, bidirectional):
    layer = VectorInput(D, kind, width=3, activation=activation)
    model = SequenceClassifier(None, C, hidden_size=3, readout=readout, bidirectional=bidirectional, seed=1,
                               dtype=np.float64, input_layer=layer, num_layers=2)
    labels = np.array([0, 2, 1])
    err = errors(model, ClassifyBatch(vectors(1), MASK, labels))
    assert ("input.W" in err) == (kind == "mlp")
    assert max(err.values()) < 1e-7, err


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_tagger_gradient_check(kind):
    model = SequenceTagger(None, C, hidden_size=3, cell="gru", dropout=0.0, seed=2, dtype=np.float64,
                           input_layer=VectorInput(D, kind, width=5))
    tags = np.random.default_rng(3).integers(0, C, (T, N))
    err = errors(model, TagBatch(vectors(2), MASK, tags))
    assert max(err.values()) < 1e-7, err


@pytest.mark.parametrize("attention,bidirectional", [(False, False), (True, True)])
def test_seq2seq_vector_source_gradient_check(attention, bidirectional):
    model = Seq2Seq(None, 6, hidden_size=3, bidirectional=bidirectional, attention=attention, conditioning="both",
                    embedding_size=2, seed=4, dtype=np.float64, source_input=VectorInput(D, "mlp", width=3))
    U = 3
    rng = np.random.default_rng(5)
    model.params = {k: v + rng.standard_normal(v.shape) for k, v in model.params.items()}  # non-zero biases
    tgt_out, tgt_mask = rng.integers(3, 6, (U, N)), (np.arange(U)[:, None] < np.array([3, 1, 2])[None]) * 1.0
    tgt_in = np.vstack([np.full((1, N), model.bos_id), tgt_out[:-1]])
    err = errors(model, (vectors(6), MASK, tgt_in, tgt_out, tgt_mask), eps=3e-5)
    assert "src_embed.W" not in err and "input.W" in err
    assert max(err.values()) < 1e-7, err


def test_padding_values_change_nothing():
    """Whatever sits on the padded steps, the loss and every gradient are the same (mask, not zeros, decides)."""
    model = SequenceClassifier(None, C, hidden_size=3, bidirectional=True, readout="mean", seed=7, dtype=np.float64,
                               input_layer=VectorInput(D, "mlp"))
    labels = np.array([1, 0, 2])
    loss0, g0, _ = model.loss_and_grads(ClassifyBatch(vectors(8, 0.0), MASK, labels))
    loss1, g1, _ = model.loss_and_grads(ClassifyBatch(vectors(8, 1e3), MASK, labels))
    assert loss0 == loss1
    assert all(np.array_equal(g0[k], g1[k]) for k in g0)


def test_bad_shapes_are_one_line():
    layer = VectorInput(D)
    model = SequenceClassifier(None, C, hidden_size=3, input_layer=layer)
    with pytest.raises(ValueError, match=r"x must be a float array of shape \(T, N, D\) with D = 4 features"):
        model.forward(np.zeros((T, N, D + 1)), MASK)
    with pytest.raises(ValueError, match="input layer must be one of linear, mlp"):
        VectorInput(D, "conv")


# ----------------------------------------------------------------------------------------------------
# Parity with torch.nn.

def torch_front(model, x, mask):
    """nn.Linear -> tanh (mlp) -> nn.LSTM over packed sequences; returns (out (T, N, dirs·H), h_n, modules)."""
    torch.set_num_threads(1)
    p, layer = model.params, model.input
    lstm = tw.torch_module(model.stack, {k: p[k] for k in model.stack_keys})
    xt = torch.from_numpy(x)
    lin = None
    if layer.kind == "mlp":
        lin = torch.nn.Linear(layer.features, layer.size).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(p["input.W"].T.copy()))
            lin.bias.copy_(torch.from_numpy(p["input.b"]))
        xt = torch.tanh(lin(xt))
    lengths = torch.tensor(mask.sum(axis=0).astype(np.int64))
    out, hidden = lstm(pack_padded_sequence(xt, lengths, enforce_sorted=False))
    out, _ = pad_packed_sequence(out, total_length=x.shape[0])
    return out, hidden[0], lstm, lin


def readout_linear(model, width, classes):
    lin = torch.nn.Linear(width, classes).double()
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(model.params["out.W"].T.copy()))
        lin.bias.copy_(torch.from_numpy(model.params["out.b"]))
    return lin


def torch_grads(model, lstm, lin_in, lin_out):
    g = {"out.W": lin_out.weight.grad.numpy().T, "out.b": lin_out.bias.grad.numpy()}
    if lin_in is not None:
        g |= {"input.W": lin_in.weight.grad.numpy().T, "input.b": lin_in.bias.grad.numpy()}
    return g | tw.grads_from_torch({k: v.grad for k, v in lstm.named_parameters()}, model.stack)


def assert_parity(loss, grads, torch_loss, theirs):
    assert abs(loss - torch_loss) <= 1e-10 * abs(torch_loss)
    assert set(grads) == set(theirs)
    for k, g in grads.items():
        scale = max(np.abs(theirs[k]).max(), 1e-3)
        assert np.abs(g - theirs[k]).max() / scale <= 1e-10, k


@pytest.mark.parametrize("kind", ["linear", "mlp"])
@pytest.mark.parametrize("readout,bidirectional", [("last", True), ("mean", False), ("max", True)])
def test_classifier_parity_with_torch(kind, readout, bidirectional):
    model = SequenceClassifier(None, C, hidden_size=4, num_layers=2, bidirectional=bidirectional, readout=readout,
                               seed=3, dtype=np.float64, input_layer=VectorInput(D, kind, width=6))
    x, labels = vectors(9), np.array([2, 0, 1])
    loss, grads, _ = model.loss_and_grads(ClassifyBatch(x, MASK, labels))
    out, h_n, lstm, lin_in = torch_front(model, x, MASK)
    m = torch.from_numpy(MASK)[:, :, None]
    if readout == "last":
        r = torch.cat([h_n[-2], h_n[-1]], dim=1) if bidirectional else h_n[-1]
    elif readout == "mean":
        r = (out * m).sum(0) / m.sum(0)
    else:
        r = out.masked_fill(m == 0, -np.inf).max(0).values
    lin_out = readout_linear(model, model.stack.dirs * 4, C)
    torch_loss = torch.nn.functional.cross_entropy(lin_out(r), torch.from_numpy(labels))
    torch_loss.backward()
    assert_parity(loss, grads, float(torch_loss.detach()), torch_grads(model, lstm, lin_in, lin_out))


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_tagger_parity_with_torch(kind):
    model = SequenceTagger(None, C, hidden_size=4, num_layers=2, dropout=0.0, seed=5, dtype=np.float64,
                           input_layer=VectorInput(D, kind, width=3))
    x, tags = vectors(10), np.random.default_rng(11).integers(0, C, (T, N))
    loss, grads, _ = model.loss_and_grads(TagBatch(x, MASK, tags))
    out, _, lstm, lin_in = torch_front(model, x, MASK)
    lin_out = readout_linear(model, model.stack.dirs * 4, C)
    real = torch.from_numpy(MASK.astype(bool))
    torch_loss = torch.nn.functional.cross_entropy(lin_out(out)[real], torch.from_numpy(tags)[real])
    torch_loss.backward()
    assert_parity(loss, grads, float(torch_loss.detach()), torch_grads(model, lstm, lin_in, lin_out))
