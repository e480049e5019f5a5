"""SequenceClassifier: float64 centred differences on every parameter with variable lengths, for each
readout, uni- and bidirectional; parity with the same network built from torch.nn at 1e-10."""

from functools import partial

import numpy as np
import pytest

from unroll.models.classifier import ClassifyBatch
from unroll.nn import gradcheck
from unroll.models.classifier import SequenceClassifier as _Classifier

# The model's defaults are --task classify's (GRU 100 x 2 directions, embedding 128, max readout, dropout 0.5 /
# 0.3); these tests were written for, and pin, the plain model: one LSTM direction, last readout, no dropout.
SequenceClassifier = partial(_Classifier, hidden_size=128, embedding_size=None, cell="lstm", bidirectional=False,
                             readout="last", dropout=0.0, embedding_dropout=0.0)

T, N, V, C = 5, 3, 7, 3
LENGTHS = np.array([5, 2, 3])


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    mask = (np.arange(T)[:, None] < LENGTHS[None]).astype(np.float64)
    return ClassifyBatch(rng.integers(0, V, (T, N)), mask, rng.integers(0, C, N))


def grad_errors(model, batch):
    _, grads, _ = model.loss_and_grads(batch)
    return gradcheck.check(lambda: model.loss_and_grads(batch)[0], model.params, grads, eps=1e-5)


@pytest.mark.parametrize("readout", ["last", "mean", "max"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradient_check_every_parameter(readout, bidirectional, cell):
    model = SequenceClassifier(V, C, hidden_size=3, embedding_size=4, num_layers=2 if cell == "gru" else 1,
                               cell=cell, bidirectional=bidirectional, readout=readout, seed=1, dtype=np.float64)
    errors = grad_errors(model, make_batch())
    assert set(errors) == set(model.params)
    assert max(errors.values()) < 1e-7, errors


def test_padding_does_not_change_a_sequence_result():
    """A sequence's probabilities do not depend on how much padding follows it (nor on the pad ids)."""
    model = SequenceClassifier(V, C, hidden_size=4, bidirectional=True, readout="max", seed=2, dtype=np.float64)
    ids, mask, _ = make_batch()
    alone = model.predict_proba(ids[:2, 1:2])                      # sequence 1 has length 2
    padded = ids.copy()
    padded[2:, 1] = (padded[2:, 1] + 3) % V
    assert np.allclose(model.predict_proba(padded, mask)[1], alone[0], atol=1e-13, rtol=0)


def test_mean_readout_by_hand():
    """One layer, one unit, tanh RNN with W_x = 1, W_h = 0: y_t = tanh(e_t), so mean = Σ tanh(e_t) / T_n."""
    model = SequenceClassifier(3, 2, hidden_size=1, embedding_size=1, cell="rnn", readout="mean", dtype=np.float64)
    p = model.params
    p["embed.W"][:] = [[0.1], [0.5], [-0.3]]
    p["layer0.rnn.W_x"][:] = 1.0
    p["layer0.rnn.W_h"][:] = 0.0
    p["layer0.rnn.b"][:] = 0.0
    p["out.W"][:] = [[1.0, -1.0]]
    p["out.b"][:] = 0.0
    ids = np.array([[1, 2], [2, 0], [0, 0]])
    mask = np.array([[1, 1], [1, 0], [1, 0]])
    logits, _ = model.forward(ids, mask, training=False)
    r0 = (np.tanh(0.5) + np.tanh(-0.3) + np.tanh(0.1)) / 3
    r1 = np.tanh(-0.3)
    assert np.allclose(logits, [[r0, -r0], [r1, -r1]], atol=1e-15)


def test_bad_input_is_one_line():
    model = SequenceClassifier(V, C, hidden_size=3)
    with pytest.raises(ValueError, match="readout must be one of"):
        SequenceClassifier(V, C, readout="first")
    ids, mask, labels = make_batch()
    with pytest.raises(ValueError, match=r"labels must hold ids in \[0, 3\)"):
        model.loss_and_grads(ClassifyBatch(ids, mask, labels + 5))
    with pytest.raises(ValueError, match="prefix of ones"):
        model.loss_and_grads(ClassifyBatch(ids, mask[::-1], labels))


# ----------------------------------------------------------------------------------------------------
# Parity with torch.nn: Embedding -> LSTM (packed) -> readout -> Linear -> cross_entropy.

import torch  # noqa: E402  (the test extra installs it: a missing torch must fail, not skip)


def torch_classifier_loss(model, batch):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from unroll.interop import torch_weights as tw
    torch.set_num_threads(1)
    cfg, p = model.config, model.params
    emb = torch.nn.Embedding(cfg["vocab_size"], cfg["embedding_size"]).double()
    lstm = tw.torch_module(model.stack, model._stack_params())
    lin = torch.nn.Linear(model.stack.dirs * cfg["hidden_size"], cfg["num_classes"]).double()
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(p["embed.W"]))
        lin.weight.copy_(torch.from_numpy(p["out.W"].T.copy()))
        lin.bias.copy_(torch.from_numpy(p["out.b"]))
    ids, mask, labels = batch
    lengths = torch.tensor(mask.sum(axis=0).astype(np.int64))
    packed = pack_padded_sequence(emb(torch.from_numpy(ids)), lengths, enforce_sorted=False)
    out, (h_n, _) = lstm(packed)
    out, _ = pad_packed_sequence(out, total_length=ids.shape[0])          # zeros on padding
    m = torch.from_numpy(mask)[:, :, None]
    if cfg["readout"] == "last":
        r = torch.cat([h_n[-2], h_n[-1]], dim=1) if model.stack.dirs == 2 else h_n[-1]
    elif cfg["readout"] == "mean":
        r = (out * m).sum(0) / m.sum(0)
    else:
        r = out.masked_fill(m == 0, -np.inf).max(0).values
    loss = torch.nn.functional.cross_entropy(lin(r), torch.from_numpy(labels))
    loss.backward()
    grads = {"embed.W": emb.weight.grad.numpy(), "out.W": lin.weight.grad.numpy().T, "out.b": lin.bias.grad.numpy()}
    grads.update(tw.grads_from_torch({k: v.grad for k, v in lstm.named_parameters()}, model.stack))
    return float(loss.detach()), grads


@pytest.mark.parametrize("readout", ["last", "mean", "max"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_parity_with_torch(readout, bidirectional):
    model = SequenceClassifier(V, C, hidden_size=4, embedding_size=5, num_layers=2, cell="lstm",
                               bidirectional=bidirectional, readout=readout, seed=3, dtype=np.float64)
    batch = make_batch(4)
    loss, grads, _ = model.loss_and_grads(batch)
    torch_loss, torch_grads = torch_classifier_loss(model, batch)
    assert abs(loss - torch_loss) <= 1e-10 * abs(torch_loss)
    for k, g in grads.items():
        scale = max(np.abs(torch_grads[k]).max(), 1e-3)
        assert np.abs(g - torch_grads[k]).max() / scale <= 1e-10, k


def test_gradient_check_with_dropout_masks_held_fixed():
    """Dropout on the embeddings, between layers and before the output: the same masks in every call."""
    model = SequenceClassifier(V, C, hidden_size=2, embedding_size=3, num_layers=2, bidirectional=True,
                               readout="mean", dropout=0.3, embedding_dropout=0.4, seed=5, dtype=np.float64)
    batch = make_batch(6)

    def loss_and_grads():
        model.rng = np.random.default_rng(9)
        return model.loss_and_grads(batch)

    _, grads, _ = loss_and_grads()
    errors = gradcheck.check(lambda: loss_and_grads()[0], model.params, grads, eps=1e-5)
    assert max(errors.values()) < 1e-7, errors
