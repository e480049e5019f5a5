"""Optimizers equal torch.optim step for step; checkpoint round trips resume bit-identically; clipping equals
torch.nn.utils; schedules give the documented numbers; bad input fails with clear errors."""

import math

import numpy as np
import pytest
import torch

from unroll.train import optim, schedule

SHAPES = {"layer0.rnn.W_x": (4, 6), "layer0.rnn.W_h": (6, 6), "layer0.rnn.b": (6,), "out.W": (6, 3)}
STEPS = 5


def make_params(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def make_grads(seed, dtype=np.float64):
    rng = np.random.default_rng(1000 + seed)
    return [{k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()} for _ in range(STEPS)]


def run_torch(torch_cls, params, grads_seq, **kw):
    tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    opt = torch_cls(list(tensors.values()), **kw)
    for grads in grads_seq:
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        opt.step()
    return {k: t.detach().numpy() for k, t in tensors.items()}


def run_ours(cls, params, grads_seq, **kw):
    params = {k: v.copy() for k, v in params.items()}
    opt = cls(params, **kw)
    for grads in grads_seq:
        opt.step({k: g.copy() for k, g in grads.items()})
    return params


TORCH_CASES = [
    (optim.SGD, {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
    (optim.Momentum, {"lr": 0.1, "momentum": 0.9}, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    (optim.Momentum, {"lr": 0.05, "momentum": 0.8, "nesterov": True},
     torch.optim.SGD, {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    (optim.RMSprop, {"lr": 0.01}, torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.99, "eps": 1e-8}),
    (optim.RMSprop, {"lr": 0.002, "alpha": 0.95}, torch.optim.RMSprop, {"lr": 0.002, "alpha": 0.95, "eps": 1e-8}),
    (optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True},
     torch.optim.RMSprop, {"lr": 0.01, "eps": 1e-8, "momentum": 0.5, "centered": True}),
    (optim.Adam, {"lr": 0.01}, torch.optim.Adam, {"lr": 0.01}),
    (optim.Adam, {"lr": 0.002, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6},
     torch.optim.Adam, {"lr": 0.002, "betas": (0.8, 0.99), "eps": 1e-6}),
]


@pytest.mark.parametrize("ours, our_kw, theirs, their_kw", TORCH_CASES,
                         ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_equals_torch_optim_over_five_steps(ours, our_kw, theirs, their_kw):
    params, grads = make_params(), make_grads(0)
    expected = run_torch(theirs, params, grads, **their_kw)
    got = run_ours(ours, params, grads, **our_kw)
    for k in SHAPES:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-12, atol=1e-12, err_msg=k)
        assert np.abs(got[k] - params[k]).max() > 1e-3        # the parameters really moved


def test_adagrad_equals_min_char_rnn_transcription():
    params, grads = make_params(), make_grads(1)
    ref = {k: v.copy() for k, v in params.items()}
    mem = {k: np.zeros_like(v) for k, v in params.items()}
    learning_rate = 1e-1
    for g in grads:                     # min-char-rnn.py, the Adagrad update
        for param, dparam, m in zip([ref[k] for k in SHAPES], [g[k] for k in SHAPES], [mem[k] for k in SHAPES]):
            m += dparam * dparam
            param += -learning_rate * dparam / np.sqrt(m + 1e-8)
    got = run_ours(optim.Adagrad, params, grads, lr=learning_rate)
    for k in SHAPES:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-12, atol=1e-12)


def test_adagrad_eps_sits_inside_the_root():
    """One step from zero state on a zero gradient entry is 0/sqrt(eps) = 0; on g: lr * g / sqrt(g² + eps)."""
    p = {"w": np.zeros(2)}
    optim.Adagrad(p, lr=1.0, eps=1e-2).step({"w": np.array([0.0, 0.1])})
    np.testing.assert_allclose(p["w"], [0.0, -0.1 / math.sqrt(0.01 + 1e-2)], rtol=1e-15)


@pytest.mark.parametrize("name, kw", [("sgd", {}), ("momentum", {"nesterov": True}), ("adagrad", {}),
                                      ("rmsprop", {"centered": True, "momentum": 0.3}), ("adam", {})])
def test_state_dict_round_trip_resumes_bit_identically(name, kw):
    grads = make_grads(2) + make_grads(3)
    straight = make_params(dtype=np.float32)
    opt = optim.make_optimizer(name, straight, 0.01, **kw)
    for g in grads:
        opt.step(g)

    first = make_params(dtype=np.float32)
    opt1 = optim.make_optimizer(name, first, 0.01, **kw)
    for g in grads[:STEPS]:
        opt1.step(g)
    arrays, scalars = opt1.state_dict()
    arrays = {k: v.copy() for k, v in arrays.items()}          # as if saved and loaded
    resumed = {k: v.copy() for k, v in first.items()}
    opt2 = optim.make_optimizer(name, resumed, 0.5)             # a different lr: the checkpoint restores it
    opt2.load_state_dict(arrays, dict(scalars))
    assert opt2.steps == STEPS and opt2.lr == 0.01
    for g in grads[STEPS:]:
        opt2.step(g)
    for k in SHAPES:
        assert resumed[k].dtype == np.float32
        np.testing.assert_array_equal(resumed[k], straight[k])


def test_state_dict_keys_and_scalars():
    params = make_params()
    arrays, scalars = optim.Adam(params, lr=0.003).state_dict()
    assert sorted(arrays) == sorted(f"adam.{b}.{k}" for b in ("m", "v") for k in SHAPES)
    assert "adam.m.layer0.rnn.W_h" in arrays and arrays["adam.m.layer0.rnn.W_h"].shape == (6, 6)
    assert scalars == {"name": "adam", "lr": 0.003, "steps": 0, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert optim.SGD(params, lr=0.1).state_dict() == ({}, {"name": "sgd", "lr": 0.1, "steps": 0})


def test_load_state_dict_rejects_unknown_missing_and_misshapen_keys():
    params = make_params()
    opt = optim.Momentum(params, lr=0.1)
    arrays, scalars = opt.state_dict()
    with pytest.raises(ValueError, match=r"unexpected \['momentum.v.extra'\]"):
        opt.load_state_dict({**arrays, "momentum.v.extra": np.zeros(3)}, scalars)
    short = dict(arrays)
    del short["momentum.v.out.W"]
    with pytest.raises(ValueError, match=r"missing \['momentum.v.out.W'\]"):
        opt.load_state_dict(short, scalars)
    with pytest.raises(ValueError, match=r"momentum.v.out.W has shape \(3, 6\)"):
        opt.load_state_dict({**arrays, "momentum.v.out.W": np.zeros((3, 6))}, scalars)
    with pytest.raises(ValueError, match="state is for 'adam', not 'momentum'"):
        opt.load_state_dict(arrays, {**scalars, "name": "adam"})
    with pytest.raises(ValueError, match="scalars must have the keys"):
        opt.load_state_dict(arrays, {**scalars, "dampening": 0.1})


def test_float32_params_stay_float32_with_float64_grads():
    params = make_params(dtype=np.float32)
    ids = {k: id(v) for k, v in params.items()}
    for name in optim.OPTIMIZERS:
        opt = optim.make_optimizer(name, params, 0.01)
        opt.step(make_grads(4)[0])                              # float64 grads
        assert all(v.dtype == np.float32 for v in params.values())
        assert all(b.dtype == np.float32 for b in opt.state_dict()[0].values())
    assert {k: id(v) for k, v in params.items()} == ids          # updated in place, same arrays


def test_lr_is_settable_and_used():
    p = {"w": np.ones(3)}
    opt = optim.SGD(p, lr=0.1)
    opt.lr = 0.5
    opt.step({"w": np.ones(3)})
    np.testing.assert_array_equal(p["w"], 0.5)
    with pytest.raises(ValueError, match="lr must be a finite number"):
        opt.lr = float("nan")


def test_step_rejects_mismatched_grads():
    opt = optim.Adam(make_params(), lr=0.1)
    grads = make_grads(5)[0]
    with pytest.raises(ValueError, match=r"missing \['out.W'\]"):
        opt.step({k: v for k, v in grads.items() if k != "out.W"})
    with pytest.raises(ValueError, match=r"grads\['out.W'\] has shape \(3, 6\)"):
        opt.step({**grads, "out.W": np.zeros((3, 6))})


def test_make_optimizer_errors_list_the_valid_choices():
    with pytest.raises(ValueError, match="optimizer must be one of sgd, momentum, adagrad, rmsprop, adam, got 'adamw'"):
        optim.make_optimizer("adamw", make_params(), 0.1)
    with pytest.raises(ValueError, match="adam has no option momentum .options: beta1, beta2, eps."):
        optim.make_optimizer("adam", make_params(), 0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"params\['w'\] must be a float32 or float64 array"):
        optim.SGD({"w": np.zeros(3, dtype=np.int64)}, lr=0.1)


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 1e3])
def test_clip_grad_norm_equals_torch(max_norm):
    grads = make_grads(6)[0]
    tensors = [torch.tensor(g.copy(), requires_grad=True) for g in grads.values()]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.tensor(g.copy())
    expected_norm = float(torch.nn.utils.clip_grad_norm_(tensors, max_norm))
    norm = optim.clip_grad_norm(grads, max_norm)
    assert abs(norm - expected_norm) <= 1e-12 * expected_norm
    assert abs(norm - math.sqrt(sum((g ** 2).sum() for g in make_grads(6)[0].values()))) < 1e-12 * norm
    for t, g in zip(tensors, grads.values()):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12, atol=1e-15)
    after = math.sqrt(sum((g ** 2).sum() for g in grads.values()))
    assert after == pytest.approx(min(norm, max_norm), rel=1e-6)


def test_clip_grad_value_clamps_in_place():
    g = {"a": np.array([-3.0, -0.5, 0.2, 7.0])}
    buf = g["a"]
    assert optim.clip_grad_value(g, 1.0) is None
    np.testing.assert_array_equal(buf, [-1.0, -0.5, 0.2, 1.0])
    with pytest.raises(ValueError, match="clip must be > 0"):
        optim.clip_grad_value(g, 0.0)


def test_schedules_give_the_documented_rates():
    assert schedule.LRSchedule(0.1).lr_at(12345) == 0.1
    exp = schedule.LRSchedule(2e-3, "exponential", decay_rate=0.5, decay_every=10, decay_start=20)
    assert [exp.lr_at(s) for s in (0, 29, 30, 39, 40, 55)] == [2e-3, 2e-3, 1e-3, 1e-3, 5e-4, 2.5e-4]
    multi = schedule.LRSchedule(1.0, "multistep", decay_rate=0.1, milestones=(3, 5))
    assert [multi.lr_at(s) for s in range(7)] == pytest.approx([1, 1, 1, 0.1, 0.1, 0.01, 0.01])
    cos = schedule.LRSchedule(1.0, "cosine", total_steps=100, min_lr=0.1)
    assert [cos.lr_at(s) for s in (0, 50, 100, 200)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    lin = schedule.LRSchedule(1.0, "linear", total_steps=100, min_lr=0.2)
    assert [lin.lr_at(s) for s in (0, 25, 100, 200)] == pytest.approx([1.0, 0.8, 0.2, 0.2])
    warm = schedule.LRSchedule(1.0, warmup_steps=4)
    assert [warm.lr_at(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_decays_over_a_time_budget_end_at_the_deadline_whatever_the_step():
    """total_steps 0 and max_time T: the progress is elapsed / T, so the rate reaches min_lr at the deadline."""
    cos = schedule.LRSchedule(1.0, "cosine", min_lr=0.1, max_time=100.0)
    assert [cos.lr_at(7, t) for t in (0.0, 50.0, 100.0, 250.0)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    assert cos.lr_at(0, 50.0) == cos.lr_at(10 ** 6, 50.0)                  # the step does not matter
    lin = schedule.LRSchedule(2.0, "linear", max_time=8.0, warmup_steps=2)
    assert [lin.lr_at(s, t) for s, t in ((0, 0.0), (1, 2.0), (5, 4.0), (9, 8.0))] == [1.0, 1.5, 1.0, 0.0]
    both = schedule.LRSchedule(1.0, "linear", total_steps=10, max_time=100.0)    # --max-steps given: by steps
    assert both.lr_at(5, 99.0) == 0.5


def test_char_rnn_decay_mapping():
    """char-rnn: after iteration i (1-based) with i % B == 0 and i / B >= decay_after, lr *= 0.97."""
    B, decay_after, lr = 7, 3, 2e-3
    sched = schedule.LRSchedule(lr, "exponential", decay_rate=0.97, decay_every=B, decay_start=(decay_after - 1) * B)
    rates, current = [], lr
    for i in range(1, 60):
        rates.append(current)                      # the rate used by update i, i.e. step i - 1
        if i % B == 0 and i / B >= decay_after:
            current *= 0.97
    assert [sched.lr_at(s) for s in range(59)] == pytest.approx(rates, rel=1e-12)


def test_schedule_errors():
    with pytest.raises(ValueError, match="schedule kind must be one of constant, exponential, multistep, cosine, "
                                         "linear, got 'triangular'"):
        schedule.LRSchedule(0.1, "triangular")
    with pytest.raises(ValueError, match="a cosine schedule needs total_steps >= 1 or a max_time budget"):
        schedule.LRSchedule(0.1, "cosine")
    with pytest.raises(ValueError, match="a linear schedule needs total_steps >= 1 or a max_time budget"):
        schedule.LRSchedule(0.1, "linear", max_time=0.0)
    with pytest.raises(ValueError, match="decay_rate must lie in"):
        schedule.LRSchedule(0.1, "exponential", decay_rate=1.5)


def test_matches_torch_in_float32_too():
    params, grads = make_params(dtype=np.float32), make_grads(7, dtype=np.float32)
    expected = run_torch(torch.optim.Adam, params, grads, lr=0.01)
    got = run_ours(optim.Adam, params, grads, lr=0.01)
    for k in SHAPES:
        assert got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-5, atol=1e-6)
