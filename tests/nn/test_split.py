"""The whole-layer loops (LSTM, GRU, RNN) split across threads by batch rows (unroll/nn/kernels/split.py).

Split and unsplit runs compute every row with the same operations, so outputs, states, δ^{a} and dW_h
agree to rounding; the folded embedding's δP is summed over the parts, a sum in another order, so all
comparisons use float64 with a 1e-12 tolerance rather than bit equality. The split path is also checked
against centred differences and against the NumPy reference, with a mask and with the row gather.
"""

from __future__ import annotations

import numpy as np
import pytest

from unroll.nn import gradcheck, kernels, lstm, ops
from unroll.nn.kernels import split
from tests.nn.split_helpers import assert_trains_alike, train_step

T, N, D, H, V = 5, 12, 3, 4, 7
MASK = np.ones((T, N))
MASK[3:, 2] = MASK[1:, 9] = 0                                   # lengths 3 and 1 among full ones


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.setattr(split, "MIN_ROWS_PER_PART", 2)
    yield
    kernels.use(None)
    split.use(None)


def _setup(seed=0):
    rng = np.random.default_rng(seed)
    params = lstm.init(D, H, rng, np.float64)
    table, ids = rng.standard_normal((V, 4 * H)), rng.integers(0, V, (T, N))
    state0 = tuple(rng.standard_normal((N, H)) for _ in range(2))
    dstate = tuple(rng.standard_normal((N, H)) for _ in range(2))
    return params, table, ids, state0, dstate, rng.standard_normal((T, N, H))


def _run(backend, strategy, parts, monkeypatch, gather, mask, seed=0):
    kernels.use(backend)
    split.use(strategy)
    monkeypatch.setattr(split, "max_parts", lambda: parts)
    params, table, ids, state0, dstate, dhs = _setup(seed)
    xw = ops.RowGather(table, ids) if gather else table[ids]
    hs, (h_T, c_T), cache = lstm.forward(None, params, state0, mask, xw=xw)
    dxw, (dh0, dc0), grads = lstm.backward(dhs, cache, dstate)
    return {"hs": hs, "h_T": h_T, "c_T": c_T, "dxw": dxw, "dh0": dh0, "dc0": dc0, "dW_h": grads["W_h"]}


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("gather", [False, True])
def test_split_equals_unsplit_and_the_reference(monkeypatch, parts, masked, gather):
    mask = MASK if masked else None
    ref = _run("numpy", "off", 1, monkeypatch, gather, mask)
    whole = _run("numba", "off", 1, monkeypatch, gather, mask)
    halves = _run("numba", "batch", parts, monkeypatch, gather, mask)
    assert split.parts(N, H, "lstm") == [(N * i // parts, N * (i + 1) // parts) for i in range(parts)]
    if gather:
        assert halves["dxw"].shape == (V, 4 * H)                # δP, summed over the parts
    for key in ref:
        np.testing.assert_allclose(halves[key], whole[key], rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(halves[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("gather", [False, True])
def test_split_gradients_match_centred_differences(monkeypatch, gather):
    kernels.use("numba")
    split.use("batch")
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    params, table, ids, state0, dstate, dhs = _setup(seed=1)

    def xw():
        return ops.RowGather(table, ids) if gather else table[ids]

    def loss():
        hs, state, _ = lstm.forward(None, params, state0, MASK, xw=xw())
        return gradcheck.contract((hs, *state), (dhs, *dstate))

    _, _, cache = lstm.forward(None, params, state0, MASK, xw=xw())
    dxw, (dh0, dc0), grads = lstm.backward(dhs, cache, dstate)
    dtable = dxw if gather else ops.embedding_backward(dxw, ids, V)
    errors = gradcheck.check(loss, {"table": table, "W_h": params["W_h"], "h0": state0[0], "c0": state0[1]},
                             {"table": dtable, "W_h": grads["W_h"], "h0": dh0, "c0": dc0})
    assert max(errors.values()) < 1e-7, errors


def test_language_model_trains_alike_split_and_unsplit(monkeypatch):
    assert_trains_alike(train_step("batch", monkeypatch), train_step("off", monkeypatch))


def test_parts_follow_the_strategy_the_threads_and_the_size(monkeypatch):
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    monkeypatch.setenv("UNROLL_SPLIT", "off")
    assert split.parts(50, 128, "lstm") == [(0, 50)]
    monkeypatch.setenv("UNROLL_SPLIT", "batch")
    assert split.parts(50, 4096, "lstm") == [(0, 25), (25, 50)]
    assert split.parts(3, 128, "lstm") == [(0, 3)]              # fewer than 2 x MIN_ROWS_PER_PART rows
    monkeypatch.setenv("UNROLL_SPLIT", "auto")                 # auto: what the calibration chose
    for chosen, expected in (("batch", [(0, 25), (25, 50)]), ("off", [(0, 50)])):
        monkeypatch.setattr(split, "calibrated", lambda cell, H, N, layers=False, chosen=chosen: chosen)
        assert split.parts(50, 128, "lstm") == expected and split.stack_strategy("lstm", 128, 50) == chosen
    monkeypatch.setattr(split, "max_parts", lambda: 1)         # a one-thread BLAS: never split
    assert split.parts(50, 128, "lstm") == [(0, 50)]
    monkeypatch.setenv("UNROLL_SPLIT", "hidden")
    with pytest.raises(ValueError, match="UNROLL_SPLIT must be one of auto, off, batch, own, data, got 'hidden'"):
        split.parts(50, 128, "lstm")
    with pytest.raises(ValueError, match="split strategy"):
        split.use("rows")


def test_max_parts_follows_numpys_blas_threads():
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        assert split.max_parts() == 1


def test_row_gather_is_checked_with_one_line_errors():
    params = lstm.init(D, H, np.random.default_rng(0), np.float64)
    table = np.zeros((V, 4 * H))
    with pytest.raises(ValueError, match=r"xw.ids must lie in \[0, V\) = \[0, 7\)"):
        lstm.forward(None, params, xw=ops.RowGather(table, np.full((T, N), V)))
    with pytest.raises(ValueError, match=r"xw.table must have shape \(V, 16\)"):
        lstm.forward(None, params, xw=ops.RowGather(np.zeros((V, 3)), np.zeros((T, N), np.int64)))


def test_single_thread_holds_numpys_blas_at_one_and_restores_it():
    from threadpoolctl import threadpool_limits
    from unroll.nn.kernels import blas
    with threadpool_limits(2, user_api="blas"):
        with blas.single_thread():
            assert blas.threads() == 1
        assert blas.threads() == 2


def test_a_forked_child_splits_on_a_pool_of_its_own(monkeypatch):
    import multiprocessing
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    split.use("batch")
    kernels.use("numba")
    expected = _run("numba", "batch", 2, monkeypatch, True, None)["dW_h"]     # the parent's pool now exists
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(_child_dW_h).get(timeout=120)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def _child_dW_h():
    split.MIN_ROWS_PER_PART = 2
    split.max_parts = lambda: 2
    split.use("batch")
    kernels.use("numba")
    params, table, ids, state0, dstate, dhs = _setup(0)
    _, _, cache = lstm.forward(None, params, state0, None, xw=ops.RowGather(table, ids))
    return lstm.backward(dhs, cache, dstate)[2]["W_h"]


def test_without_a_usable_blas_the_per_step_loop_runs(monkeypatch):
    """numpy on MKL, Accelerate or a 32-bit OpenBLAS: no whole-layer loop, one part, the same numbers."""
    from unroll.nn.kernels import blas
    expected = _run("numba", "off", 1, monkeypatch, True, MASK)
    monkeypatch.setattr(blas, "_state", {"ok": False, "lib": None})
    assert not kernels.layer_loop(N) and kernels.fused(N) and blas.threads() == 1
    got = _run("numba", "batch", 2, monkeypatch, True, MASK)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-12, atol=1e-12, err_msg=key)


# ----------------------------------------------------------------------------------------------------
# The GRU's whole-layer loop (kernels/gru_layer.py), split the same way.

def _run_gru(backend, strategy, parts, monkeypatch, gather, mask, seed=0):
    from unroll.nn import gru
    kernels.use(backend)
    split.use(strategy)
    monkeypatch.setattr(split, "max_parts", lambda: parts)
    rng = np.random.default_rng(seed)
    params = gru.init(D, H, rng, np.float64)
    table, ids = rng.standard_normal((V, 3 * H)), rng.integers(0, V, (T, N))
    h0, dh_T, dhs = rng.standard_normal((N, H)), rng.standard_normal((N, H)), rng.standard_normal((T, N, H))
    hs, h_T, cache = gru.forward(None, params, h0, mask, xw=ops.RowGather(table, ids) if gather else table[ids])
    dxw, dh0, grads = gru.backward(dhs, cache, dh_T)
    return {"hs": hs, "h_T": h_T, "dxw": dxw, "dh0": dh0, "dW_h": grads["W_h"], "db_hn": grads["b_hn"]}


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("gather", [False, True])
def test_gru_split_equals_unsplit_and_the_reference(monkeypatch, masked, gather):
    mask = MASK if masked else None
    ref = _run_gru("numpy", "off", 1, monkeypatch, gather, mask)
    whole = _run_gru("numba", "off", 1, monkeypatch, gather, mask)
    halves = _run_gru("numba", "batch", 3, monkeypatch, gather, mask)
    for key in ref:
        np.testing.assert_allclose(whole[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(halves[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)


def test_gru_language_model_trains_alike_split_and_unsplit(monkeypatch):
    from unroll.models import LanguageModel
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 9, (6, 10)), rng.integers(0, 9, (6, 10))
    out = {}
    for strategy in ("off", "batch"):
        split.use(strategy)
        monkeypatch.setattr(split, "max_parts", lambda: 2)
        model = LanguageModel(vocab_size=9, hidden_size=5, num_layers=2, cell="gru", dtype=np.float64)
        out[strategy] = model.loss_and_grads(x, y)
    assert out["batch"][0] == pytest.approx(out["off"][0], rel=1e-12)
    for key, g in out["off"][1].items():
        np.testing.assert_allclose(out["batch"][1][key], g, rtol=1e-12, atol=1e-12, err_msg=key)


def _run_rnn(backend, strategy, parts, monkeypatch, gather, mask, activation, seed=0):
    from unroll.nn import rnn
    kernels.use(backend)
    split.use(strategy)
    monkeypatch.setattr(split, "max_parts", lambda: parts)
    rng = np.random.default_rng(seed)
    params = rnn.init(D, H, rng, np.float64)
    table, ids = rng.standard_normal((V, H)) + 0.3, rng.integers(0, V, (T, N))
    h0, dh_T, dhs = rng.standard_normal((N, H)), rng.standard_normal((N, H)), rng.standard_normal((T, N, H))
    hs, h_T, cache = rnn.forward(None, params, h0, mask, activation,
                                 xw=ops.RowGather(table, ids) if gather else table[ids])
    dxw, dh0, grads = rnn.backward(dhs, cache, dh_T)
    return {"hs": hs, "h_T": h_T, "dxw": dxw, "dh0": dh0, "dW_h": grads["W_h"]}


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("gather", [False, True])
def test_rnn_split_equals_unsplit_and_the_reference(monkeypatch, masked, gather, activation):
    mask = MASK if masked else None
    ref = _run_rnn("numpy", "off", 1, monkeypatch, gather, mask, activation)
    whole = _run_rnn("numba", "off", 1, monkeypatch, gather, mask, activation)
    halves = _run_rnn("numba", "batch", 3, monkeypatch, gather, mask, activation)
    for key in ref:
        np.testing.assert_allclose(whole[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(halves[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
