"""The language models' deep ensemble of ``--members K`` (unroll/models/lm_ensemble.py), float64: its loss,
every gradient and every carried state are those of K single language models built with the members' seeds
and driven by truncated BPTT (k2 = k1 and k2 > k1, with dropout: the same masks) at 1e-12; a centred-difference
check through the ensemble itself; its log-probabilities are the log of the mean of the members'
probabilities, by the sequence and step by step (the stepper), and sampling draws from them; K = 1 is the
model itself; a bad K is one line naming --members."""

from functools import partial

import numpy as np
import pytest

from unroll import decode
from unroll.models import LanguageModel, ensemble, lm_ensemble
from unroll.nn import gradcheck, ops
from unroll.train.bptt import TruncatedBPTT

V, H, T, N = 7, 4, 5, 3


def maker(cell="gru", dropout=0.3, **kw):
    one = partial(LanguageModel, vocab_size=V, hidden_size=H, num_layers=2, cell=cell, dropout=dropout,
                  dtype=np.float64, embedding_size=3, **kw)
    return lambda seed: one(seed=seed)


def singles(make, K, seed):
    """The K single models of the members' seeds, their dropout masks drawn from one generator in member order."""
    models = [make(ensemble.member_seed(seed, k)) for k in range(K)]
    for m in models[1:]:
        m.rng = models[0].rng
    return models


def batch(rng):
    return rng.integers(0, V, (T, N)), rng.integers(0, V, (T, N))


def drivers(k1, k2):
    made = {}
    return lambda model: made.setdefault(id(model), TruncatedBPTT(model, k1, k2))


def test_k_1_is_the_model_and_k_names_each_members_parameters():
    make = maker()
    one = lm_ensemble.build(make, 1, seed=3)
    assert type(one) is LanguageModel and all(np.array_equal(one.params[k], make(3).params[k]) for k in one.params)
    model = lm_ensemble.build(make, 3, seed=3)
    assert list(model.params) == [f"member{k}.{n}" for k in range(3) for n in one.params]
    for k, single in enumerate(singles(make, 3, 3)):
        assert all(np.array_equal(model.params[f"member{k}.{n}"], p) for n, p in single.params.items())
    assert not np.allclose(model.params["member1.embed.W"], model.params["member0.embed.W"])
    assert model.config == one.config


@pytest.mark.parametrize("cell, k2", [("gru", None), ("lstm", 8), ("rnn", None)])
def test_loss_gradients_and_carries_are_the_members_own(cell, k2):
    make, K, rng = maker(cell), 3, np.random.default_rng(0)
    model, refs = lm_ensemble.build(make, K, seed=7), singles(make, K, 7)
    mine, theirs = drivers(T, k2), [TruncatedBPTT(m, T, k2) for m in refs]
    carry = None
    for _ in range(3):                                      # the state and the history carried, masks alike
        x, y = batch(rng)
        loss, grads, carry = model.loss_and_grads((x, y), carry, mine)
        results = [d.step(x, y) for d in theirs]
        assert list(grads) == list(model.params) and len(carry) == K
        assert abs(loss - np.mean([r[0] for r in results])) < 1e-12
        for k, (_, g) in enumerate(results):
            for name, value in g.items():
                assert np.allclose(grads[f"member{k}.{name}"], value / K, rtol=0, atol=1e-12), (k, name)
            state, ref = carry[k]["state"], theirs[k].carry()["state"]
            assert all(np.array_equal(a, b) for a, b in zip(np.atleast_1d(state), np.atleast_1d(ref)))
        for p, g in zip(model.params.values(), grads.values()):   # an SGD step, as the trainer's
            p -= 0.5 * g
        for k, m in enumerate(refs):                        # the singles continue from the same weights
            m.params.update({name: model.params[f"member{k}.{name}"].copy() for name in m.params})


def test_gradients_match_centred_differences_through_the_ensemble():
    make, rng = maker("lstm", dropout=0.0), np.random.default_rng(1)
    model = lm_ensemble.build(make, 2, seed=2)
    x, y = batch(rng)

    def loss():
        return model.loss_and_grads((x, y), None, drivers(T, None))[0]

    _, grads, _ = model.loss_and_grads((x, y), None, drivers(T, None))
    errors = gradcheck.check(loss, model.params, grads, eps=1e-5)
    assert max(errors.values()) < 1e-7, errors


def test_log_probabilities_are_the_log_of_the_members_mean_and_the_stepper_agrees():
    make, K, rng = maker("lstm"), 3, np.random.default_rng(2)
    model = lm_ensemble.build(make, K, seed=5)
    x, y = batch(rng)
    logp, states, _ = model.forward(x)
    mean = np.mean([ops.softmax(model.member(k).forward(x, None, training=False)[0]) for k in range(K)], axis=0)
    assert np.allclose(np.exp(logp), mean, rtol=0, atol=1e-13)
    nll, count, _ = model.evaluate(x, y)
    rows_t, rows_n = np.indices(y.shape)
    assert count == T * N and nll == pytest.approx(-np.log(mean[rows_t, rows_n, y]).sum(), rel=1e-13)
    step, state = model.stepper(), model.zero_state(N)
    for t in range(T):                                      # one step at a time: the same log p
        out, state = step(x[t], state)
        assert np.allclose(out, logp[t], rtol=0, atol=1e-12)
    assert all(np.allclose(a, b, atol=1e-12) for s, r in zip(state, states) for a, b in zip(s, r))
    with pytest.raises(ValueError, match="member by member"):
        model.forward(x, training=True)


def test_sampling_draws_from_the_mean():
    make = maker("gru")
    model = lm_ensemble.build(make, 2, seed=1)
    prime = [1, 2, 3]
    greedy = model.sample(prime, 12, greedy=True)
    ids, state = np.array(prime)[:, None], None
    logp, state, _ = model.forward(ids)
    expected, last = [], logp[-1, 0]
    for _ in range(12):                                     # argmax of the mean, one step after another
        expected.append(int(np.argmax(last)))
        logp, state, _ = model.forward(np.array([[expected[-1]]]), state)
        last = logp[-1, 0]
    assert greedy.tolist() == expected
    drawn = model.sample(prime, 30, temperature=0.7, seed=4)
    assert drawn.tolist() == list(decode.generate(model, prime, 30, 0.7, None, False, np.random.default_rng(4)))
    assert drawn.tolist() != model.member(0).sample(prime, 30, temperature=0.7, seed=4).tolist()


@pytest.mark.parametrize("K", [0, -1, True, 2.5])
def test_a_bad_k_is_one_line_naming_members(K):
    with pytest.raises(ValueError, match="--members must be a positive integer"):
        lm_ensemble.build(maker(), K, seed=0)


def test_shown_is_member_0():
    model = lm_ensemble.build(maker(), 2, seed=0)
    shown, note = lm_ensemble.shown(model)
    assert shown is model.members[0] and note == "member 0 of 2"
    single = maker()(0)
    assert lm_ensemble.shown(single) == (single, None)
