"""UNROLL_SPLIT=own (unroll/nn/kernels/split.py; docs/performance.md, lever 13): numpy's BLAS held at one
thread, the layer loops split by batch rows, and every large product outside them split into blocks of its
result on unroll's own threads.

A block computes each element of a product as the whole product does, and a loop part each row as the
unsplit loop; only the sums the parts accumulate (the folded embedding's δP) reorder, so everything is
compared in float64 at 1e-12 with the NumPy reference and the unsplit fused path. MIN_PRODUCT is 0 here,
so the tests' small products are split as well; ``max_parts`` is faked where a test needs k parts whatever
the machine's cores.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from unroll.nn import gradcheck, kernels, ops
from unroll.nn.kernels import blas, split
from unroll.nn.stack import Stack
from tests.nn.split_helpers import assert_trains_alike, train_step

T, N, D, H = 5, 12, 3, 4
MASK = np.ones((T, N))
MASK[3:, 2] = MASK[1:, 9] = 0                                   # lengths 3 and 1 among full ones
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.setattr(split, "MIN_ROWS_PER_PART", 2)
    monkeypatch.setattr(split, "MIN_PRODUCT", 0)
    yield
    kernels.use(None)
    split.use(None)                                             # gives numpy's BLAS its threads back


def _flat(state):
    return state if isinstance(state, tuple) else (state,)


def _stack(backend, strategy, parts, monkeypatch, cell, activation, masked, bidirectional):
    """Forward and backward of a 2-layer stack reading x (so layer 0 projects it too): every output and gradient."""
    kernels.use(backend)
    split.use(strategy)
    monkeypatch.setattr(split, "max_parts", lambda: parts)
    s = Stack(cell, D, H, 2, bidirectional=bidirectional, activation=activation)
    rng = np.random.default_rng(5)
    params = s.init(rng, np.float64)
    x = rng.standard_normal((T, N, D))
    state0 = gradcheck.upstream(s.zero_state(N, np.float64), rng)
    mask = MASK if masked else None
    hs, state, cache = s.forward(x, params, state0, mask)
    dhs, dstate = gradcheck.upstream(hs, rng), gradcheck.upstream(state, rng)
    dx, dstate0, grads = s.backward(dhs, cache, dstate)
    out = {"hs": hs, "dx": dx, **{f"d{k}": g for k, g in grads.items()}}
    out.update({f"state[{i}]": a for i, a in enumerate(_flat(state))})
    out.update({f"dstate0[{i}]": a for i, a in enumerate(_flat(dstate0))})
    return out


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("cell, activation", CELLS)
def test_own_equals_the_reference_and_the_unsplit_loop(monkeypatch, cell, activation, masked, bidirectional, parts):
    args = (monkeypatch, cell, activation, masked, bidirectional)
    ref = _stack("numpy", "off", 1, *args)
    whole = _stack("numba", "off", 1, *args)
    own = _stack("numba", "own", parts, *args)
    assert set(own) == set(ref)
    for key in ref:
        np.testing.assert_allclose(own[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(own[key], whole[key], rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("cell, activation", CELLS)
def test_own_gradients_match_centred_differences(monkeypatch, cell, activation):
    kernels.use("numba")
    split.use("own")
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    mask = np.ones((4, 6))
    mask[2:, 1] = 0
    for stack in (Stack(cell, D, H, 2, activation=activation), Stack(cell, D, H, 1, bidirectional=True,
                                                                     activation=activation)):
        errors = gradcheck.check_stack(stack, mask, 4, 6, D, np.random.default_rng(7))
        assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("fractional", [False, True])
def test_own_runs_the_lstm_regularisers_like_the_reference(monkeypatch, fractional):
    from tests.nn.test_lstm_reg import _run, _setup
    args = _setup(0, fractional)
    ref = _run("numpy", "off", monkeypatch, *args)
    own = _run("numba", "own", monkeypatch, *args)                  # two parts (test_lstm_reg's _run)
    for key in ref:
        np.testing.assert_allclose(own[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_language_model_trains_alike_on_own_and_off(monkeypatch, cell):
    assert_trains_alike(train_step("own", monkeypatch, cell), train_step("off", monkeypatch, cell))


def test_own_splits_every_product_of_a_training_step(monkeypatch):
    """A 2-layer LSTM language model, T = 6, N = 10, H = 5, V = 9, the embedding folded: the products that
    own splits, in the order the step makes them, and how (the fold's three small products stay numpy's)."""
    from unroll.models import LanguageModel
    split.use("own")
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    seen, real = [], split.blocks
    monkeypatch.setattr(split, "blocks", lambda M, P: seen.append((M, P, *real(M, P))) or real(M, P))
    rng = np.random.default_rng(2)
    model = LanguageModel(vocab_size=9, hidden_size=5, num_layers=2, cell="lstm", dtype=np.float64)
    model.loss_and_grads(rng.integers(0, 9, (6, 10)), rng.integers(0, 9, (6, 10)))
    rows, cols = [(0, 30), (30, 60)], {9: [(0, 4), (4, 9)], 20: [(0, 10), (10, 20)]}
    assert seen == [
        (60, 20, "rows", rows),                # layer 1's input projection x W_x + b (60 x 5 @ 5 x 20)
        (60, 9, "rows", rows),                 # the output layer, 60 x 5 @ 5 x 9
        (5, 9, "columns", cols[9]),            # its ∂L/∂W = xᵀ δ
        (60, 5, "rows", rows),                 # its dx = δ Wᵀ
        (5, 20, "columns", cols[20]),          # layer 1's ∂L/∂W_h = Σ_t h_{t-1}ᵀ δ^{a_t}
        (5, 20, "columns", cols[20]),          # layer 1's ∂L/∂W_x
        (60, 5, "rows", rows),                 # layer 1's dx
        (5, 20, "columns", cols[20]),          # layer 0's ∂L/∂W_h
    ]


def test_blocks_cut_the_longer_side_of_the_result(monkeypatch):
    monkeypatch.setattr(split, "MIN_ROWS_PER_PART", 8)
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    assert split.blocks(2500, 512) == ("rows", [(0, 1250), (1250, 2500)])        # x W_x: 2500x128 @ 128x512
    assert split.blocks(128, 512) == ("columns", [(0, 256), (256, 512)])          # xᵀ δ: 128x2500 @ 2500x512
    assert split.blocks(128, 65) == ("rows", [(0, 64), (64, 128)])                # the output layer's ∂L/∂W
    assert split.blocks(12, 65) == ("columns", [(0, 32), (32, 65)])
    assert split.blocks(15, 4) == ("rows", [(0, 15)])                             # under 2 x 8 rows: one block
    monkeypatch.setattr(split, "max_parts", lambda: 3)
    assert split.blocks(100, 10) == ("rows", [(0, 33), (33, 66), (66, 100)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matmul_under_own_is_the_product(monkeypatch, dtype):
    split.use("own")
    monkeypatch.setattr(split, "max_parts", lambda: 3)
    rng = np.random.default_rng(4)
    a, b, bias, c = (rng.standard_normal(s).astype(dtype) for s in ((37, 11), (11, 23), (23,), (40, 17)))
    at = rng.standard_normal((40, 6)).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    cases = [(split.matmul(a, b), a @ b),                               # 37 x 23: three blocks of rows
             (split.matmul(a, b, bias), a @ b + bias),                  # the bias added in each block
             (split.matmul(at.T, c), at.T @ c),                         # 6 x 17, a transposed view on the left: columns
             (split.matmul(b.T, a.T), b.T @ a.T)]                       # 23 x 37, both transposed views: columns
    for got, expected in cases:
        assert got.dtype == dtype and got.shape == expected.shape and got.flags.c_contiguous
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def test_own_at_one_thread_is_the_off_path_exactly(monkeypatch):
    from threadpoolctl import threadpool_limits
    from unroll.models import LanguageModel
    real_run = split.run

    def one_part(task, ranges):
        assert len(ranges) == 1, ranges
        return real_run(task, ranges)
    monkeypatch.setattr(split, "run", one_part)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 9, (6, 20)), rng.integers(0, 9, (6, 20))
    out = {}
    with threadpool_limits(1, user_api="blas"):
        for strategy in ("off", "own"):
            split.use(strategy)
            assert split.parts(20, 5, "lstm") == [(0, 20)]
            model = LanguageModel(vocab_size=9, hidden_size=5, num_layers=2, cell="lstm", dtype=np.float32)
            out[strategy] = model.loss_and_grads(x, y)
            assert blas.threads() == 1
    assert out["own"][0] == out["off"][0]                            # bit for bit: the same operations
    for key, g in out["off"][1].items():
        assert np.array_equal(out["own"][1][key], g), key


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores for two parts")
def test_own_holds_numpys_blas_at_one_thread_until_another_strategy_is_chosen(monkeypatch):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(2, user_api="blas"):
        monkeypatch.setenv("UNROLL_SPLIT", "own")                     # forced by the environment
        assert split.parts(50, 128, "lstm") == [(0, 25), (25, 50)]
        assert split.stack_strategy("lstm", 128, 50) == "own"
        assert blas.threads() == 1 and blas.allowed() == 2 and split.max_parts() == 2
        assert split.blocks(2500, 512) == ("rows", [(0, 1250), (1250, 2500)])
        monkeypatch.setenv("UNROLL_SPLIT", "off")                     # the next call gives the threads back
        assert split.parts(50, 128, "lstm") == [(0, 50)]
        assert blas.threads() == 2 and blas.allowed() == 2
        split.use("own")
        split.parts(50, 128, "lstm")
        assert blas.threads() == 1
        split.use("batch")                                            # use() gives them back at once
        assert blas.threads() == 2


def test_refused_strategies_are_one_line_naming_unroll_split(monkeypatch):
    monkeypatch.setenv("UNROLL_SPLIT", "hidden")
    message = "UNROLL_SPLIT must be one of auto, off, batch, own, data, got 'hidden'"
    with pytest.raises(ValueError, match=message):
        split.parts(50, 128, "lstm")
    with pytest.raises(ValueError, match=message):                    # a product asks too
        ops.linear_forward(np.ones((4, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="split strategy must be one of auto, off, batch, own, data or None, got 'rows'"):
        split.use("rows")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell, activation", CELLS)
def test_torch_parity_on_own(monkeypatch, cell, activation, dtype):
    pytest.importorskip("torch")
    from tests.interop import test_torch_parity as parity
    split.use("own")
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    monkeypatch.setattr(split, "MIN_ROWS_PER_PART", 1)                # parity's batch of 3: parts of 1 and 2 rows
    for layers, bidirectional, lengths in ((2, False, None), (2, True, None), (2, True, [3, 5, 1])):
        s = Stack(cell, parity.D, parity.H, layers, bidirectional=bidirectional, activation=activation)
        ours, theirs = parity.run_both(s, dtype, seed=layers + 10 * bidirectional, lengths=lengths)
        parity.assert_parity(s, ours, theirs, parity.TOL[dtype])
