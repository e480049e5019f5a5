"""The deep ensemble of ``--members K`` (unroll/models/ensemble.py), float64: its loss and every gradient are
the mean of K single classifiers built with the members' seeds (the same weights, the same dropout masks)
at 1e-12; centred finite differences on a tiny two-member model; its probabilities are the mean of the
members'; member 0 is the model of the seed alone and K = 1 is that model itself; the members draw their
own weights and their own dropout masks; a bad K is one line naming --members."""

from functools import partial

import numpy as np
import pytest

from unroll.models import ensemble
from unroll.models.classifier import ClassifyBatch, SequenceClassifier
from unroll.nn import gradcheck
from unroll.tasks.classify import ClassifyConfig
from unroll.train import finetune

T, N, V, C = 6, 4, 9, 3
LENGTHS = np.array([6, 2, 4, 1])


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    mask = (np.arange(T)[:, None] < LENGTHS[None]).astype(np.float64)
    return ClassifyBatch(rng.integers(0, V, (T, N)), mask, rng.integers(0, C, N))


def maker(dropout=0.5, embedding_dropout=0.3, dtype=np.float64, **kw):
    """seed -> one classifier: the default GRU, bidirectional, max readout; tiny, float64 unless told."""
    one = partial(SequenceClassifier, V, C, hidden_size=3, embedding_size=4, dropout=dropout,
                  embedding_dropout=embedding_dropout, dtype=dtype, **kw)
    return lambda seed: one(seed=seed)


def singles(make, K, seed):
    """The K single models of the members' seeds, drawing their dropout masks from one generator in member
    order, as the ensemble's members do."""
    models = [make(ensemble.member_seed(seed, k)) for k in range(K)]
    for m in models[1:]:
        m.rng = models[0].rng
    return models


def test_k_1_is_the_single_model_of_the_seed():
    make = maker()
    one, alone = ensemble.build(make, 1, seed=4), make(4)
    assert type(one) is SequenceClassifier and list(one.params) == list(alone.params)
    assert all(np.array_equal(one.params[k], alone.params[k]) for k in alone.params)
    assert "embed.W" in one.params and not any(k.startswith("member") for k in one.params)


def test_member_names_and_seeds():
    make, K = maker(), 3
    model = ensemble.build(make, K, seed=4)
    alone = make(4)
    names = [f"member{k}.{name}" for k in range(K) for name in alone.params]
    assert list(model.params) == names
    for k, single in enumerate(singles(make, K, 4)):
        for name, value in single.params.items():
            assert np.array_equal(model.params[f"member{k}.{name}"], value), (k, name)
    assert all(np.array_equal(model.params[f"member0.{n}"], p) for n, p in alone.params.items())   # member 0
    for name in ("embed.W", "layer0.gru.W_h", "out.W"):                                             # its own draws
        assert not np.allclose(model.params[f"member1.{name}"], model.params[f"member0.{name}"])
        assert not np.allclose(model.params[f"member2.{name}"], model.params[f"member1.{name}"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])     # float32: the precision runs train in
def test_loss_and_every_gradient_are_the_mean_of_the_members_with_dropout(dtype):
    make, K = maker(dtype=dtype), 3
    model, refs = ensemble.build(make, K, seed=7), singles(make, K, 7)
    for step in range(2):                                   # the second step: the masks continue alike
        batch = make_batch(step)
        loss, grads, state = model.loss_and_grads(batch)
        results = [m.loss_and_grads(batch) for m in refs]
        assert state is None and list(grads) == list(model.params)
        assert abs(loss - np.mean([r[0] for r in results])) < 1e-12
        for k, (_, g, _) in enumerate(results):
            for name, value in g.items():
                assert np.allclose(grads[f"member{k}.{name}"], value / K, rtol=0, atol=1e-12), (k, name)


def test_the_members_draw_their_own_dropout_masks():
    """Member 1 given member 0's weights: no dropout, the same loss; with dropout, another one."""
    for dropout, same in ((0.0, True), (0.5, False)):
        model = ensemble.build(maker(dropout=dropout, embedding_dropout=dropout), 2, seed=1)
        for name in model.members[0].params:
            model.params[f"member1.{name}"][...] = model.params[f"member0.{name}"]
        batch = make_batch()
        l0, _, _ = model.member(0).loss_and_grads(batch)
        l1, _, _ = model.member(1).loss_and_grads(batch)
        assert bool(l0 == l1) is same


@pytest.mark.parametrize("readout", ["last", "max"])
def test_centred_differences_on_a_tiny_two_member_model(readout):
    model = ensemble.build(maker(dropout=0.0, embedding_dropout=0.0, readout=readout), 2, seed=3)
    batch = make_batch(1)
    _, grads, _ = model.loss_and_grads(batch)
    errors = gradcheck.check(lambda: model.loss_and_grads(batch)[0], model.params, grads, eps=1e-5)
    assert set(errors) == set(model.params)
    assert max(errors.values()) < 1e-7, errors


def test_probabilities_are_the_mean_of_the_members():
    make, K = maker(), 3
    model, refs = ensemble.build(make, K, seed=2), singles(make, K, 2)
    ids, mask, _ = make_batch(3)
    p = model.predict_proba(ids, mask)
    expected = np.mean([m.predict_proba(ids, mask) for m in refs], axis=0)
    assert p.shape == (N, C) and np.allclose(p, expected, rtol=0, atol=1e-15)
    assert np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert not np.allclose(p, refs[0].predict_proba(ids, mask), rtol=0, atol=1e-6)


def test_the_member_prefix_keeps_the_embedding_in_the_lowest_finetuning_group():
    groups = finetune.depth_groups(["member0.embed.W", "member0.layer0.gru.W_h", "member0.out.W",
                                    "member1.embed.W", "member1.layer0.gru.W_h", "member1.out.W"])
    assert groups == {"member0.embed.W": 0, "member0.layer0.gru.W_h": 1, "member0.out.W": 2,
                      "member1.embed.W": 0, "member1.layer0.gru.W_h": 1, "member1.out.W": 2}


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_a_bad_k_is_one_line_naming_members(bad):
    with pytest.raises(ValueError, match=r"^--members must be a positive integer, got "):
        ensemble.build(maker(), bad, seed=0)
    with pytest.raises(ValueError, match=r"^--members must be a positive integer, got "):
        ClassifyConfig(data="x.tsv", members=bad)
