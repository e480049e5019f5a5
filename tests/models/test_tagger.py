"""SequenceTagger: float64 centred differences on every parameter with variable lengths, uni- and
bidirectional; parity with torch.nn (Embedding, packed LSTM, Linear) at 1e-10; padding is ignored."""

from functools import partial

import numpy as np
import pytest

from unroll.models.tagger import TagBatch
from unroll.nn import gradcheck
from unroll.models.tagger import SequenceTagger as _Tagger

# The model's defaults are --task tag's (H 64, E 32); these tests pin the sizes they were written for.
SequenceTagger = partial(_Tagger, hidden_size=128, embedding_size=None)

T, N, V, K = 5, 3, 7, 3
LENGTHS = np.array([5, 2, 3])


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    mask = (np.arange(T)[:, None] < LENGTHS[None]).astype(np.float64)
    return TagBatch(rng.integers(0, V, (T, N)), mask, rng.integers(0, K, (T, N)))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_gradient_check_every_parameter(bidirectional, cell):
    model = SequenceTagger(V, K, hidden_size=3, embedding_size=4, num_layers=2, cell=cell,
                           bidirectional=bidirectional, dropout=0.0, seed=1, dtype=np.float64)
    batch = make_batch()
    _, grads, _ = model.loss_and_grads(batch)
    errors = gradcheck.check(lambda: model.loss_and_grads(batch)[0], model.params, grads, eps=1e-5)
    assert set(errors) == set(model.params)
    assert max(errors.values()) < 1e-7, errors


def test_loss_ignores_padded_tags_and_ids():
    model = SequenceTagger(V, K, hidden_size=4, dropout=0.0, seed=2, dtype=np.float64)
    ids, mask, tags = make_batch()
    loss, grads, _ = model.loss_and_grads(TagBatch(ids, mask, tags))
    ids2, tags2 = ids.copy(), tags.copy()
    ids2[mask == 0] = (ids2[mask == 0] + 1) % V
    tags2[mask == 0] = (tags2[mask == 0] + 1) % K
    loss2, grads2, _ = model.loss_and_grads(TagBatch(ids2, mask, tags2))
    assert loss == loss2
    assert all(np.array_equal(grads[k], grads2[k]) for k in grads)


def test_loss_is_the_mean_over_real_steps():
    """Against an independent sum of -log p over the real steps, divided by Σ T_n = 10."""
    model = SequenceTagger(V, K, hidden_size=4, dropout=0.0, seed=3, dtype=np.float64)
    ids, mask, tags = make_batch()
    probs = model.predict_proba(ids, mask)
    expected = -sum(np.log(probs[t, n, tags[t, n]]) for n in range(N) for t in range(LENGTHS[n])) / 10
    assert abs(model.loss_and_grads(TagBatch(ids, mask, tags))[0] - expected) < 1e-13


import torch  # noqa: E402  (the test extra installs it: a missing torch must fail, not skip)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_parity_with_torch(bidirectional):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from unroll.interop import torch_weights as tw
    torch.set_num_threads(1)
    model = SequenceTagger(V, K, hidden_size=4, embedding_size=5, num_layers=2, bidirectional=bidirectional,
                           dropout=0.0, seed=4, dtype=np.float64)
    p = model.params
    emb = torch.nn.Embedding(V, 5).double()
    lstm = tw.torch_module(model.stack, {k: p[k] for k in model.stack_keys})
    lin = torch.nn.Linear(model.stack.dirs * 4, K).double()
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(p["embed.W"]))
        lin.weight.copy_(torch.from_numpy(p["out.W"].T.copy()))
        lin.bias.copy_(torch.from_numpy(p["out.b"]))
    ids, mask, tags = make_batch(5)
    packed = pack_padded_sequence(emb(torch.from_numpy(ids)), torch.tensor(LENGTHS), enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = pad_packed_sequence(out, total_length=T)
    logits = lin(out)
    real = torch.from_numpy(mask.astype(bool))
    torch_loss = torch.nn.functional.cross_entropy(logits[real], torch.from_numpy(tags)[real])
    torch_loss.backward()
    theirs = {"embed.W": emb.weight.grad.numpy(), "out.W": lin.weight.grad.numpy().T, "out.b": lin.bias.grad.numpy()}
    theirs.update(tw.grads_from_torch({k: v.grad for k, v in lstm.named_parameters()}, model.stack))
    loss, grads, _ = model.loss_and_grads(TagBatch(ids, mask, tags))
    assert abs(loss - float(torch_loss.detach())) <= 1e-10 * abs(loss)
    for k, g in grads.items():
        assert np.abs(g - theirs[k]).max() / max(np.abs(theirs[k]).max(), 1e-3) <= 1e-10, k
