"""Adversarial training on the embedded inputs (unroll/nn/adversarial.py, SequenceClassifier's ``adversarial``):
the direction is ε times each sequence's own input gradient over its norm, zero on padding; the input
gradient the model returns matches centred differences; with r held fixed every parameter's gradient of
J = L(e) + L(e + r) matches centred differences in float64 (dropout masks held fixed too); the whole step
matches torch.autograd (r from torch's own input gradient, detached) to 1e-10; ε = 0 is the plain model to the bit."""

import numpy as np
import pytest
import torch

from unroll.models.classifier import ClassifyBatch, SequenceClassifier
from unroll.nn import adversarial, gradcheck

T, N, V, C = 5, 3, 7, 2
LENGTHS = np.array([5, 2, 3])


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    mask = (np.arange(T)[:, None] < LENGTHS[None]).astype(np.float64)
    return ClassifyBatch(rng.integers(0, V, (T, N)), mask, rng.integers(0, C, N))


def model_of(epsilon, dropout=0.0, embedding_dropout=0.0, seed=1):
    return SequenceClassifier(V, C, hidden_size=3, embedding_size=4, cell="gru", bidirectional=True, readout="max",
                              dropout=dropout, embedding_dropout=embedding_dropout, adversarial=epsilon, seed=seed,
                              dtype=np.float64)


def test_direction_is_epsilon_over_each_sequences_norm_and_zero_on_padding():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(T, N, 4))
    mask = (np.arange(T)[:, None] < LENGTHS[None]).astype(np.float64)
    r = adversarial.direction(g, mask, 0.7)
    for n, length in enumerate(LENGTHS):
        expected = 0.7 * g[:length, n] / np.linalg.norm(g[:length, n])
        assert np.allclose(r[:length, n], expected, atol=1e-15, rtol=0)
        assert not r[length:, n].any()
        assert np.isclose(np.linalg.norm(r[:, n]), 0.7, atol=1e-14)
    assert not adversarial.direction(np.zeros((T, N, 4)), mask, 0.7).any()      # no gradient: no step


def test_the_input_gradient_matches_centred_differences():
    model, batch = model_of(0.0), make_batch()
    ids, mask, labels = batch
    _, _, d_e, _ = model._pass(ids, mask, labels, None)
    base = np.zeros((T, N, 4))
    numeric = np.zeros_like(base)
    for index in np.ndindex(base.shape):
        for sign in (1, -1):
            base[index] = sign * 1e-6
            numeric[index] += sign * model._pass(ids, mask, labels, base)[0] / 2e-6
            base[index] = 0.0
    assert np.abs(d_e - numeric).max() < 1e-8
    assert not d_e[LENGTHS[1]:, 1].any()                                       # padding has no gradient


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_every_parameter_gradient_of_the_adversarial_objective_with_r_held_fixed(dropout):
    model, batch = model_of(0.5, dropout=dropout, embedding_dropout=dropout), make_batch(2)

    def run(perturb=None):
        model.rng = np.random.default_rng(9)                                    # the same dropout masks each call
        return model.loss_and_grads(batch, perturb=perturb)

    ids, mask, labels = batch
    model.rng = np.random.default_rng(9)
    _, _, d_e, m = model._pass(ids, mask, labels, None)
    r = adversarial.direction(d_e, m, 0.5)
    loss, grads, _ = run()
    fixed_loss, fixed_grads, _ = run(r)
    assert loss == fixed_loss and all(np.array_equal(grads[k], fixed_grads[k]) for k in grads)
    errors = gradcheck.check(lambda: run(r)[0], model.params, grads, eps=1e-5)
    assert set(errors) == set(model.params) and max(errors.values()) < 1e-7, errors


def test_epsilon_zero_is_the_plain_model_to_the_bit():
    batch = make_batch(3)
    plain = SequenceClassifier(V, C, hidden_size=3, embedding_size=4, seed=4, dtype=np.float64)
    zero = SequenceClassifier(V, C, hidden_size=3, embedding_size=4, seed=4, dtype=np.float64, adversarial=0.0)
    a, b = plain.loss_and_grads(batch), zero.loss_and_grads(batch)
    assert a[0] == b[0] and all(np.array_equal(a[1][k], b[1][k]) for k in a[1])
    assert plain.rng.random() == zero.rng.random()                              # the same draws were taken


@pytest.mark.parametrize("epsilon", [-0.1, float("nan"), "1", True])
def test_a_bad_epsilon_is_one_line(epsilon):
    with pytest.raises(ValueError, match="the adversarial step ε must be a number >= 0"):
        model_of(epsilon)


def torch_adversarial_step(model, batch, epsilon):
    """J and ∂J/∂θ by torch.autograd: GRU bidirectional, max readout, r = ε g/‖g‖ per sequence, detached."""
    from unroll.interop import torch_weights as tw
    torch.set_num_threads(1)
    cfg, p = model.config, model.params
    ids, mask, labels = batch
    emb = torch.nn.Embedding(V, cfg["embedding_size"]).double()
    rnn = tw.torch_module(model.stack, model._stack_params())
    lin = torch.nn.Linear(2 * cfg["hidden_size"], C).double()
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(p["embed.W"]))
        lin.weight.copy_(torch.from_numpy(p["out.W"].T.copy()))
        lin.bias.copy_(torch.from_numpy(p["out.b"]))
    m = torch.from_numpy(mask)[:, :, None]
    lengths = torch.tensor(mask.sum(axis=0).astype(np.int64))

    def loss_of(e):
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
        out, _ = rnn(pack_padded_sequence(e, lengths, enforce_sorted=False))
        out, _ = pad_packed_sequence(out, total_length=T)
        r = out.masked_fill(m == 0, -np.inf).max(0).values
        return torch.nn.functional.cross_entropy(lin(r), torch.from_numpy(labels))

    e = emb(torch.from_numpy(ids))
    clean = loss_of(e)
    g, = torch.autograd.grad(clean, e, retain_graph=True)
    g = g * m
    r = epsilon * g / g.pow(2).sum(dim=(0, 2)).sqrt()[None, :, None]              # ‖g_n‖ over steps and features
    total = clean + loss_of(e + r.detach())
    total.backward()
    grads = {"embed.W": emb.weight.grad.numpy(), "out.W": lin.weight.grad.numpy().T, "out.b": lin.bias.grad.numpy()}
    grads.update(tw.grads_from_torch({k: v.grad for k, v in rnn.named_parameters()}, model.stack))
    return float(total.detach()), grads


def test_parity_with_torch_autograd():
    model, batch = model_of(0.8, seed=6), make_batch(5)
    loss, grads, _ = model.loss_and_grads(batch)
    torch_loss, torch_grads = torch_adversarial_step(model, batch, 0.8)
    assert abs(loss - torch_loss) <= 1e-10 * abs(torch_loss)
    for k, g in grads.items():
        scale = max(np.abs(torch_grads[k]).max(), 1e-3)
        assert np.abs(g - torch_grads[k]).max() / scale <= 1e-10, k
