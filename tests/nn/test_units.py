"""The LSTM's whole-layer loop with the hidden units split across threads (``UNROLL_SPLIT=units``:
unroll/nn/kernels/lstm_units.py, its per-step barrier unroll/nn/kernels/sync.py).

Each thread computes its units' columns of ``h_{t-1} W_h`` and, backward, a full-width share of
``δ^{a_t} W_hᵀ`` that the threads sum: the same numbers as the unsplit loop up to the order of additions,
so every comparison is float64 with a 1e-12 tolerance. Checked against the NumPy reference and the ``off``
loop (outputs, final states, every gradient), with masks, the row gather, H not divisible by the threads,
centred differences, a 2-layer language model; the same for the GRU, the RNN and the regularised LSTM
(recurrent dropout, zoneout).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from unroll.nn import gradcheck, gru, kernels, lstm, lstm_reg, ops, rnn
from unroll.nn.kernels import gru_units, lstm_reg_units, lstm_units, rnn_units, split

T, N, D, V = 5, 12, 3, 7
MASK = np.ones((T, N))
MASK[3:, 2] = MASK[1:, 9] = 0                                   # lengths 3 and 1 among full ones


@pytest.fixture(autouse=True)
def _restore():
    yield
    kernels.use(None)
    split.use(None)


@pytest.fixture
def spy(monkeypatch):
    """The unit ranges every forward and backward of the units loops ran on (any cell)."""
    calls = []
    for module in (lstm_units, lstm_reg_units, gru_units, rnn_units):
        for name in ("forward", "backward"):
            real = getattr(module, name)
            monkeypatch.setattr(module, name, lambda *a, real=real, name=name: (calls.append((name, a[-1])),
                                                                                real(*a))[1])
    return calls


def _setup(H, seed=0):
    rng = np.random.default_rng(seed)
    params = lstm.init(D, H, rng, np.float64)
    x, table, ids = rng.standard_normal((T, N, D)), rng.standard_normal((V, 4 * H)), rng.integers(0, V, (T, N))
    state0 = tuple(rng.standard_normal((N, H)) for _ in range(2))
    dstate = tuple(rng.standard_normal((N, H)) for _ in range(2))
    return params, x, table, ids, state0, dstate, rng.standard_normal((T, N, H))


def _run(backend, strategy, threads, monkeypatch, H, inputs, mask):
    """Every output and gradient of one LSTM layer; inputs "x" (the projection, so W_x and b have gradients),
    "xw" (given pre-activations) or "gather" (ops.RowGather)."""
    kernels.use(backend)
    split.use(strategy)
    monkeypatch.setattr(split, "max_parts", lambda: threads)
    params, x, table, ids, state0, dstate, dhs = _setup(H)
    xw = {"x": None, "xw": table[ids], "gather": ops.RowGather(table, ids)}[inputs]
    hs, (h_T, c_T), cache = lstm.forward(x if inputs == "x" else None, params, state0, mask, xw=xw)
    dx, (dh0, dc0), grads = lstm.backward(dhs, cache, dstate)
    return {"hs": hs, "h_T": h_T, "c_T": c_T, "dx": dx, "dh0": dh0, "dc0": dc0,
            **{f"d{k}": v for k, v in grads.items() if v is not None}}


@pytest.mark.parametrize("H,threads,ranges", [(4, 2, [(0, 2), (2, 4)]), (5, 2, [(0, 2), (2, 5)]),
                                              (7, 3, [(0, 2), (2, 4), (4, 7)])])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("inputs", ["x", "xw", "gather"])
def test_units_equal_off_and_the_reference(monkeypatch, spy, H, threads, ranges, masked, inputs):
    mask = MASK if masked else None
    ref = _run("numpy", "off", 1, monkeypatch, H, inputs, mask)
    whole = _run("numba", "off", 1, monkeypatch, H, inputs, mask)
    assert spy == []
    units = _run("numba", "units", threads, monkeypatch, H, inputs, mask)
    assert spy == [("forward", ranges), ("backward", ranges)]   # the split ran, on these units
    assert split.parts(N, H, "lstm") == [(0, N)]                # the rows are not split
    assert set(units) == set(ref) and ("dW_x" in ref) == (inputs == "x")
    if inputs == "gather":
        assert units["dx"].shape == (V, 4 * H)                  # δP, each thread's columns
    for key in ref:
        np.testing.assert_allclose(units[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(units[key], whole[key], rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("inputs", ["xw", "gather"])
def test_units_gradients_match_centred_differences(monkeypatch, spy, inputs):
    kernels.use("numba")
    split.use("units")
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    params, _, table, ids, state0, dstate, dhs = _setup(5, seed=1)

    def xw():
        return ops.RowGather(table, ids) if inputs == "gather" else table[ids]

    def loss():
        hs, state, _ = lstm.forward(None, params, state0, MASK, xw=xw())
        return gradcheck.contract((hs, *state), (dhs, *dstate))

    _, _, cache = lstm.forward(None, params, state0, MASK, xw=xw())
    dxw, (dh0, dc0), grads = lstm.backward(dhs, cache, dstate)
    dtable = dxw if inputs == "gather" else ops.embedding_backward(dxw, ids, V)
    errors = gradcheck.check(loss, {"table": table, "W_h": params["W_h"], "h0": state0[0], "c0": state0[1]},
                             {"table": dtable, "W_h": grads["W_h"], "h0": dh0, "c0": dc0})
    assert max(errors.values()) < 1e-7, errors
    assert spy and all(ranges == [(0, 2), (2, 5)] for _, ranges in spy)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_language_model_trains_alike_on_units_and_off(monkeypatch, spy, cell):
    from unroll.models import LanguageModel
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 9, (6, 10)), rng.integers(0, 9, (6, 10))
    out = {}
    for strategy in ("off", "units"):
        split.use(strategy)
        monkeypatch.setattr(split, "max_parts", lambda: 2)
        model = LanguageModel(vocab_size=9, hidden_size=5, num_layers=2, cell=cell, dtype=np.float64)
        out[strategy] = model.loss_and_grads(x, y)
        assert model.forward(x)[2].folded
    assert len(spy) == 2 * 2 + 2                                # two layers forward and backward, and forward
    assert out["units"][0] == pytest.approx(out["off"][0], rel=1e-12)
    for key, g in out["off"][1].items():
        np.testing.assert_allclose(out["units"][1][key], g, rtol=1e-12, atol=1e-12, err_msg=key)


# ----------------------------------------------------------------------------------------------------
# The GRU (kernels/gru_units.py) and the RNN (kernels/rnn_units.py)

def _setup_other(cell, H, seed=0):
    rng = np.random.default_rng(seed)
    G = 3 if cell == "gru" else 1
    params = (gru if cell == "gru" else rnn).init(D, H, rng, np.float64)
    table, ids = rng.standard_normal((V, G * H)) + 0.3, rng.integers(0, V, (T, N))
    return params, table, ids, rng.standard_normal((N, H)), rng.standard_normal((N, H)), rng.standard_normal((T, N, H))


def _forward_other(cell, params, h0, mask, xw, activation):
    if cell == "gru":
        return gru.forward(None, params, h0, mask, xw=xw)
    return rnn.forward(None, params, h0, mask, activation, xw=xw)


def _run_other(cell, activation, backend, strategy, threads, monkeypatch, H, gather, mask):
    kernels.use(backend)
    split.use(strategy)
    monkeypatch.setattr(split, "max_parts", lambda: threads)
    params, table, ids, h0, dh_T, dhs = _setup_other(cell, H)
    hs, h_T, cache = _forward_other(cell, params, h0, mask, ops.RowGather(table, ids) if gather else table[ids],
                                    activation)
    dxw, dh0, grads = (gru if cell == "gru" else rnn).backward(dhs, cache, dh_T)
    return {"hs": hs, "h_T": h_T, "dxw": dxw, "dh0": dh0, **{f"d{k}": v for k, v in grads.items() if v is not None}}


@pytest.mark.parametrize("H,threads,ranges", [(5, 2, [(0, 2), (2, 5)]), (7, 3, [(0, 2), (2, 4), (4, 7)])])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("gather", [False, True])
@pytest.mark.parametrize("cell,activation", [("gru", None), ("rnn", "tanh"), ("rnn", "relu")])
def test_gru_and_rnn_units_equal_off_and_the_reference(monkeypatch, spy, cell, activation, H, threads, ranges,
                                                        masked, gather):
    mask = MASK if masked else None
    ref = _run_other(cell, activation, "numpy", "off", 1, monkeypatch, H, gather, mask)
    whole = _run_other(cell, activation, "numba", "off", 1, monkeypatch, H, gather, mask)
    units = _run_other(cell, activation, "numba", "units", threads, monkeypatch, H, gather, mask)
    assert spy == [("forward", ranges), ("backward", ranges)]
    assert set(units) == set(ref) and {"dW_h"} <= set(ref) and ("db_hn" in ref) == (cell == "gru")
    for key in ref:
        np.testing.assert_allclose(units[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(units[key], whole[key], rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("cell,activation", [("gru", None), ("rnn", "tanh")])
def test_gru_and_rnn_units_gradients_match_centred_differences(monkeypatch, spy, cell, activation):
    kernels.use("numba")
    split.use("units")
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    params, table, ids, h0, dh_T, dhs = _setup_other(cell, 5, seed=1)

    def loss():
        hs, h_T, _ = _forward_other(cell, params, h0, MASK, ops.RowGather(table, ids), activation)
        return gradcheck.contract((hs, h_T), (dhs, dh_T))

    _, _, cache = _forward_other(cell, params, h0, MASK, ops.RowGather(table, ids), activation)
    dtable, dh0, grads = (gru if cell == "gru" else rnn).backward(dhs, cache, dh_T)
    values, analytic = {"table": table, "W_h": params["W_h"], "h0": h0}, {"table": dtable, "W_h": grads["W_h"],
                                                                          "h0": dh0}
    if cell == "gru":
        values["b_hn"], analytic["b_hn"] = params["b_hn"], grads["b_hn"]
    errors = gradcheck.check(loss, values, analytic)
    assert max(errors.values()) < 1e-7, errors
    assert spy and all(ranges == [(0, 2), (2, 5)] for _, ranges in spy)


# ----------------------------------------------------------------------------------------------------
# The regularised LSTM (recurrent dropout and zoneout: kernels/lstm_reg_units.py)

def _reg_setup(H, fractional, seed=0):
    params, x, table, ids, state0, dstate, dhs = _setup(H, seed)
    rng = np.random.default_rng(seed + 5)
    keep = (rng.random((N, H)) > 0.3) / 0.7                     # one mask per sequence, scaled by 1/(1-p)
    if fractional:                                              # evaluation: the expectation p
        zoneout = (np.full((T, N, H), 0.15), np.full((T, N, H), 0.05))
    else:
        zoneout = tuple((rng.random((T, N, H)) < p).astype(np.float64) for p in (0.3, 0.2))
    return params, x, table, ids, state0, dstate, dhs, keep, zoneout


def _run_regularised(backend, strategy, threads, monkeypatch, H, gather, fractional):
    kernels.use(backend)
    split.use(strategy)
    monkeypatch.setattr(split, "max_parts", lambda: threads)
    params, x, table, ids, state0, dstate, dhs, keep, zoneout = _reg_setup(H, fractional)
    xw = ops.RowGather(table, ids) if gather else None
    hs, (h_T, c_T), cache = lstm_reg.forward(None if gather else x, params, state0, keep, zoneout, xw=xw)
    dx, (dh0, dc0), grads = lstm_reg.backward(dhs, cache, dstate)
    return {"hs": hs, "h_T": h_T, "c_T": c_T, "dx": dx, "dh0": dh0, "dc0": dc0,
            **{f"d{k}": v for k, v in grads.items() if v is not None}}


@pytest.mark.parametrize("H,threads,ranges", [(5, 2, [(0, 2), (2, 5)]), (7, 3, [(0, 2), (2, 4), (4, 7)])])
@pytest.mark.parametrize("fractional", [False, True])
@pytest.mark.parametrize("gather", [False, True])
def test_regularised_units_equal_off_and_the_reference(monkeypatch, spy, H, threads, ranges, fractional, gather):
    ref = _run_regularised("numpy", "off", 1, monkeypatch, H, gather, fractional)
    whole = _run_regularised("numba", "off", 1, monkeypatch, H, gather, fractional)
    units = _run_regularised("numba", "units", threads, monkeypatch, H, gather, fractional)
    assert spy == [("forward", ranges), ("backward", ranges)]
    assert set(units) == set(ref) and ("dW_x" in ref) == (not gather)
    for key in ref:
        np.testing.assert_allclose(units[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(units[key], whole[key], rtol=1e-12, atol=1e-12, err_msg=key)


def test_regularised_units_gradients_match_centred_differences(monkeypatch, spy):
    kernels.use("numba")
    split.use("units")
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    params, _, table, ids, state0, dstate, dhs, keep, zoneout = _reg_setup(5, fractional=True, seed=1)

    def loss():
        hs, state, _ = lstm_reg.forward(None, params, state0, keep, zoneout, xw=ops.RowGather(table, ids))
        return gradcheck.contract((hs, *state), (dhs, *dstate))

    _, _, cache = lstm_reg.forward(None, params, state0, keep, zoneout, xw=ops.RowGather(table, ids))
    dtable, (dh0, dc0), grads = lstm_reg.backward(dhs, cache, dstate)
    errors = gradcheck.check(loss, {"table": table, "W_h": params["W_h"], "h0": state0[0], "c0": state0[1]},
                             {"table": dtable, "W_h": grads["W_h"], "h0": dh0, "c0": dc0})
    assert max(errors.values()) < 1e-7, errors
    assert spy and all(ranges == [(0, 2), (2, 5)] for _, ranges in spy)


def test_unit_ranges_follow_the_strategy_and_the_threads(monkeypatch):
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    monkeypatch.setenv("UNROLL_SPLIT", "units")
    assert split.unit_ranges(128, 50, "lstm") == [(0, 64), (64, 128)]
    assert split.unit_ranges(1, 50, "lstm") is None            # one unit: nothing to split
    assert split.unit_ranges(600, 50, "lstm") == [(0, 304), (304, 600)]   # boundaries on whole cache lines
    assert split.unit_ranges(200, 50, "lstm") == [(0, 100), (100, 200)]   # aligning would unbalance the parts
    for other in ("off", "batch"):
        monkeypatch.setenv("UNROLL_SPLIT", other)
        assert split.unit_ranges(128, 50, "lstm") is None
    monkeypatch.setenv("UNROLL_SPLIT", "auto")                 # auto: what the calibration chose
    monkeypatch.setattr(split, "calibrated", lambda cell, H, N: "units")
    assert split.unit_ranges(128, 50, "lstm") == [(0, 64), (64, 128)] and split.parts(50, 128, "lstm") == [(0, 50)]
    monkeypatch.setattr(split, "max_parts", lambda: 1)         # a one-thread BLAS: never split
    assert split.unit_ranges(128, 50, "lstm") is None
    assert all(split.candidates(cell) == ("off", "batch", "units") for cell in ("lstm", "gru", "rnn"))


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_getaffinity"), reason="no CPU affinity here")
def test_max_parts_counts_only_the_cores_this_process_may_run_on(monkeypatch):
    import os
    from unroll.nn.kernels import blas
    monkeypatch.setattr(blas, "threads", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})            # e.g. taskset -c 0
    assert split.max_parts() == 1 and split.unit_ranges(128, 50, "lstm") is None
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert split.max_parts() == 3


def test_a_part_that_fails_releases_the_others_and_its_error_reaches_the_caller(monkeypatch):
    """A worker's part raising before its first barrier: part 0, already waiting there, is released (the
    abort flag), and split.run raises the worker's error instead of hanging."""
    real = lstm_units.forward_units

    def failing(*args):
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("part 1 failed")
        return real(*args)
    monkeypatch.setattr(lstm_units, "forward_units", failing)
    with pytest.raises(RuntimeError, match="part 1 failed"):
        _run("numba", "units", 2, monkeypatch, 5, "xw", None)
    monkeypatch.setattr(lstm_units, "forward_units", real)      # the workers still serve later calls
    np.testing.assert_allclose(_run("numba", "units", 2, monkeypatch, 5, "xw", None)["hs"],
                               _run("numba", "off", 1, monkeypatch, 5, "xw", None)["hs"], rtol=1e-12, atol=1e-12)
