"""The LSTM with recurrent (variational) dropout and zoneout (unroll/nn/lstm_reg.py), with fixed masks.

Its fused whole-layer loop (split and unsplit) against its NumPy reference at float64 1e-12, both against
centred differences, and with no dropout and no zoneout both against the plain LSTM of nn/lstm.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from unroll.nn import gradcheck, kernels, lstm, lstm_reg, ops
from unroll.nn.kernels import split

T, N, D, H, V = 5, 6, 3, 4, 7


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.setattr(split, "MIN_ROWS_PER_PART", 2)
    yield
    kernels.use(None)
    split.use(None)


def _setup(seed, fractional=False):
    rng = np.random.default_rng(seed)
    params = lstm.init(D, H, rng, np.float64)
    x = rng.standard_normal((T, N, D))
    state0 = tuple(rng.standard_normal((N, H)) for _ in range(2))
    dstate = tuple(rng.standard_normal((N, H)) for _ in range(2))
    keep = (rng.random((N, H)) > 0.3) / 0.7                     # one mask per sequence, scaled by 1/(1-p)
    if fractional:                                              # evaluation: the expectation p
        zoneout = (np.full((T, N, H), 0.15), np.full((T, N, H), 0.05))
    else:
        zoneout = tuple((rng.random((T, N, H)) < p).astype(np.float64) for p in (0.3, 0.2))
    return params, x, state0, dstate, keep, zoneout, rng.standard_normal((T, N, H))


def _run(backend, strategy, monkeypatch, params, x, state0, dstate, keep, zoneout, dhs, xw=None):
    kernels.use(backend)
    split.use(strategy)
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    hs, (h_T, c_T), cache = lstm_reg.forward(x, params, state0, keep, zoneout, xw=xw)
    dx, (dh0, dc0), grads = lstm_reg.backward(dhs, cache, dstate)
    return {"hs": hs, "h_T": h_T, "c_T": c_T, "dx": dx, "dh0": dh0, "dc0": dc0,
            **{f"d{k}": v for k, v in grads.items() if v is not None}}


@pytest.mark.parametrize("fractional", [False, True])
@pytest.mark.parametrize("backend,strategy", [("numba", "off"), ("numba", "batch")])
def test_fused_loop_equals_the_numpy_reference(monkeypatch, backend, strategy, fractional):
    args = _setup(0, fractional)
    ref = _run("numpy", "off", monkeypatch, *args)
    fused = _run(backend, strategy, monkeypatch, *args)
    for key in ref:
        np.testing.assert_allclose(fused[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)


def test_the_row_gather_equals_the_projection(monkeypatch):
    params, _, state0, dstate, keep, zoneout, dhs = _setup(1)
    rng = np.random.default_rng(9)
    table, ids = rng.standard_normal((V, 4 * H)), rng.integers(0, V, (T, N))
    ref = _run("numpy", "off", monkeypatch, params, None, state0, dstate, keep, zoneout, dhs, xw=table[ids])
    got = _run("numba", "batch", monkeypatch, params, None, state0, dstate, keep, zoneout, dhs,
               xw=ops.RowGather(table, ids))
    np.testing.assert_allclose(got["dx"], ops.embedding_backward(ref["dx"], ids, V), rtol=1e-12, atol=1e-12)
    for key in ("hs", "h_T", "c_T", "dh0", "dc0", "dW_h"):
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_without_dropout_or_zoneout_it_is_the_plain_lstm(monkeypatch, backend):
    params, x, state0, dstate, _, _, dhs = _setup(2)
    reg = _run(backend, "off", monkeypatch, params, x, state0, dstate, None, None, dhs)
    hs, (h_T, c_T), cache = lstm.forward(x, params, state0)
    dx, (dh0, dc0), grads = lstm.backward(dhs, cache, dstate)
    plain = {"hs": hs, "h_T": h_T, "c_T": c_T, "dx": dx, "dh0": dh0, "dc0": dc0, **{f"d{k}": v for k, v in grads.items()}}
    for key in plain:
        np.testing.assert_allclose(reg[key], plain[key], rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_gradients_match_centred_differences_with_fixed_masks(monkeypatch, backend):
    params, x, state0, dstate, keep, zoneout, dhs = _setup(3)
    kernels.use(backend)
    split.use("batch")
    monkeypatch.setattr(split, "max_parts", lambda: 2)

    def loss():
        hs, state, _ = lstm_reg.forward(x, params, state0, keep, zoneout)
        return gradcheck.contract((hs, *state), (dhs, *dstate))

    _, _, cache = lstm_reg.forward(x, params, state0, keep, zoneout)
    dx, (dh0, dc0), grads = lstm_reg.backward(dhs, cache, dstate)
    errors = gradcheck.check(loss, {"x": x, **params, "h0": state0[0], "c0": state0[1]},
                             {"x": dx, **grads, "h0": dh0, "c0": dc0})
    assert max(errors.values()) < 1e-7, errors


def test_masks_are_checked_with_one_line_errors():
    params, x, *_ = _setup(4)
    with pytest.raises(ValueError, match=r"recurrent_keep must have shape \(6, 4\)"):
        lstm_reg.forward(x, params, recurrent_keep=np.ones((N, H + 1)))
    with pytest.raises(ValueError, match="zoneout must be None or a tuple"):
        lstm_reg.forward(x, params, zoneout=np.zeros((T, N, H)))
