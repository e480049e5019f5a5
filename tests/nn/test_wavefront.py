"""The wavefront (unroll/nn/kernels/wavefront.py): a stack's layers, or a bidirectional layer's directions,
on two threads, the sequence in chunks handed over between them (UNROLL_SPLIT=wave).

Each chunk is the cell's own forward/backward from the state the chunk before left, so outputs, states and
input gradients agree with the whole-sequence run to rounding, and the weight gradients are sums over the
chunks (another order of additions): float64, 1e-12, against the unsplit loop and the NumPy reference, for
every cell, 2 and 3 layers, bidirectional, masks, dropout with weight drop, and the folded embedding.
"""

from __future__ import annotations

import numpy as np
import pytest

from unroll.nn import gradcheck, kernels, ops
from unroll.nn.kernels import split, wavefront
from unroll.nn.stack import Stack

T, N, D, H = 13, 9, 6, 5


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.setattr(split, "max_parts", lambda: 2)          # two threads, whatever this machine has
    monkeypatch.setenv("UNROLL_WAVE_STEPS", "3")                # chunks of 3 steps: 13 = 3 + 3 + 3 + 3 + 1
    yield
    kernels.use(None)
    split.use(None)


def _mask(rng):
    lengths = rng.integers(3, T + 1, N)
    lengths[0] = 1
    return (np.arange(T)[:, None] < lengths[None]).astype(np.float64)


def _run(backend, strategy, cell, layers, bidirectional, masked, regularized=False, fold=False):
    kernels.use(backend)
    split.use(strategy)
    stack = Stack(cell, D, H, layers, bidirectional=bidirectional, dropout=0.3 if regularized else 0.0,
                  weight_drop=0.2 if regularized else 0.0, locked=regularized and layers == 3)
    rng = np.random.default_rng(0)
    params = stack.init(rng, np.float64)
    x = rng.standard_normal((T, N, D))
    state0 = stack.zero_state(N, np.float64)
    state0 = tuple(rng.standard_normal(s.shape) for s in state0) if isinstance(state0, tuple) else \
        rng.standard_normal(state0.shape)
    kw = {}
    if fold:
        G = {"lstm": 4, "gru": 3, "rnn": 1}[cell] * H
        kw, x = {"xw0": ops.RowGather(rng.standard_normal((7, G)), rng.integers(0, 7, (T, N)))}, None
    mask = _mask(rng) if masked else None
    hs, state, cache = stack.forward(x, params, state0, mask, rng=np.random.default_rng(1), training=True, **kw)
    dhs = np.random.default_rng(2).standard_normal(hs.shape)
    dstate = tuple(np.ones_like(s) for s in state) if isinstance(state, tuple) else np.ones_like(state)
    dx, dstate0, grads = stack.backward(dhs, cache, dstate)
    out = {"hs": hs, "dx": dx, **_named("state", state), **_named("dstate0", dstate0)}
    out.update({k: g for k, g in grads.items() if g is not None})
    return out, kernels.ran_on_wavefront(cache)


def _named(name, s):
    return {f"{name}{i}": a for i, a in enumerate(s)} if isinstance(s, tuple) else {name: s}


SHAPES = ((2, False), (3, False), (1, True), (2, True))         # (layers, bidirectional)
CASES = [(layers, bidirectional, masked, extra) for layers, bidirectional in SHAPES for masked in (False, True)
         for extra in ("", "regularized", "fold") if not (bidirectional and extra == "fold")]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers,bidirectional,masked,extra", CASES)
def test_wavefront_equals_the_whole_sequence_and_the_reference(cell, layers, bidirectional, masked, extra):
    opts = {"regularized": extra == "regularized", "fold": extra == "fold"}
    ref, _ = _run("numpy", "off", cell, layers, bidirectional, masked, **opts)
    whole, on_wave = _run("numba", "off", cell, layers, bidirectional, masked, **opts)
    wave, on_wave_now = _run("numba", "wave", cell, layers, bidirectional, masked, **opts)
    assert not on_wave
    # a padded batch's chunk may hold no real step of a sequence: a unidirectional stack then runs unchunked
    assert on_wave_now == (bidirectional or not masked)
    assert set(wave) == set(ref)
    for key in ref:
        np.testing.assert_allclose(wave[key], whole[key], rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(wave[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("cell,bidirectional", [("lstm", False), ("gru", True), ("rnn", False)])
def test_wavefront_gradients_match_centred_differences(cell, bidirectional):
    kernels.use("numba")
    split.use("wave")
    stack = Stack(cell, D, H, 2, bidirectional=bidirectional)
    rng = np.random.default_rng(3)
    params = stack.init(rng, np.float64)
    x = rng.standard_normal((T, N, D))
    dhs = rng.standard_normal((T, N, stack.dirs * H))

    def loss():
        return gradcheck.contract(stack.forward(x, params)[0], dhs)

    _, _, cache = stack.forward(x, params)
    assert kernels.ran_on_wavefront(cache)
    dx, _, grads = stack.backward(dhs, cache)
    keys = [f"{stack.prefix(0, stack.dirs - 1)}.W_h", f"{stack.prefix(1, 0)}.W_x", f"{stack.prefix(1, 0)}.b"]
    wanted = {"x": x, **{k: params[k] for k in keys}}
    errors = gradcheck.check(loss, wanted, {"x": dx, **{k: grads[k] for k in wanted if k != "x"}})
    assert max(errors.values()) < 1e-7, errors


def test_language_model_trains_alike_on_the_wavefront():
    from unroll.models import LanguageModel
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 9, (12, 10)), rng.integers(0, 9, (12, 10))
    out = {}
    for strategy in ("off", "wave"):
        split.use(strategy)
        model = LanguageModel(vocab_size=9, hidden_size=5, num_layers=2, cell="lstm", dtype=np.float64)
        out[strategy] = model.loss_and_grads(x, y)
    assert out["wave"][0] == pytest.approx(out["off"][0], rel=1e-12)
    for key, g in out["off"][1].items():
        np.testing.assert_allclose(out["wave"][1][key], g, rtol=1e-12, atol=1e-12, err_msg=key)


def test_the_wavefront_needs_the_strategy_two_threads_and_something_to_overlap(monkeypatch):
    monkeypatch.setenv("UNROLL_SPLIT", "wave")
    kernels.use("numba")
    assert split.strategy() == "wave" and split.parts(50, 128, "lstm") == [(0, 50)]   # no batch split inside
    assert wavefront.applies(Stack("lstm", 3, 4, 2), N)
    assert wavefront.applies(Stack("gru", 3, 4, 1, bidirectional=True), N, masked=True)
    assert not wavefront.applies(Stack("lstm", 3, 4, 1), N)                 # one layer, one direction
    assert not wavefront.applies(Stack("lstm", 3, 4, 2), N, masked=True)
    assert not wavefront.applies(Stack("leaky", 3, 4, 2), N)                # cells with more state than h, c
    monkeypatch.setenv("UNROLL_SPLIT", "off")
    assert not wavefront.applies(Stack("lstm", 3, 4, 2), N)
    monkeypatch.setenv("UNROLL_SPLIT", "wave")
    monkeypatch.setattr(split, "max_parts", lambda: 1)                     # one BLAS thread: nothing to share
    assert not wavefront.applies(Stack("lstm", 3, 4, 2), N)
    assert wavefront.chunk_steps(50) == 3                                  # UNROLL_WAVE_STEPS (the fixture)
    monkeypatch.delenv("UNROLL_WAVE_STEPS")
    assert wavefront.chunk_steps(50) == 5 and wavefront.chunk_steps(100) == 10 and wavefront.chunk_steps(7) == 1


def test_an_error_on_either_thread_reaches_the_caller(monkeypatch):
    from unroll.nn import lstm
    kernels.use("numba")
    split.use("wave")
    calls, forward = [], lstm.forward

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise RuntimeError("chunk failed")
        return forward(*args, **kwargs)
    monkeypatch.setattr(lstm, "forward", failing)
    stack = Stack("lstm", D, H, 2)
    params = stack.init(np.random.default_rng(0), np.float64)
    with pytest.raises(RuntimeError, match="chunk failed"):
        stack.forward(np.zeros((T, N, D)), params)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_an_empty_sequence_runs_on_the_wavefront_too(bidirectional):
    kernels.use("numba")
    split.use("wave")
    stack = Stack("lstm", D, H, 2, bidirectional=bidirectional)
    params = stack.init(np.random.default_rng(0), np.float64)
    hs, (h, c), cache = stack.forward(np.zeros((0, N, D)), params)
    assert kernels.ran_on_wavefront(cache) and hs.shape == (0, N, stack.dirs * H) and not h.any()
    dx, _, grads = stack.backward(np.zeros(hs.shape), cache)
    assert dx.shape == (0, N, D) and not any(g.any() for g in grads.values())
