"""MKL for the one-thread products (unroll/nn/kernels/mkl.py; docs/performance.md, lever 15): W_h packed once
per layer call for the loops' per-step products, ``mkl.gemm`` for ``split.matmul``'s, and the choice of BLAS.

Every path is compared in float64 at 1e-12 with the NumPy reference (MKL's products sum in their own order),
by centred differences, and with torch.nn. "openblas" here is the same process with MKL's state emptied
(``_openblas``): the Python side then packs nothing and the loops call numpy's OpenBLAS, as before the lever.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from unroll.nn import gradcheck, kernels
from unroll.nn.kernels import calibrate, mkl, split
from unroll.nn.stack import Stack

pytestmark = pytest.mark.skipif(not mkl.available(), reason="MKL is a dependency on x86-64; elsewhere nothing to test")

T, N, D, H = 5, 12, 3, 4
MASK = np.ones((T, N))
MASK[3:, 2] = MASK[1:, 9] = 0
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.setattr(split, "MIN_ROWS_PER_PART", 2)
    yield
    kernels.use(None)
    split.use(None)


def _openblas(monkeypatch):
    monkeypatch.setattr(mkl, "_state", {**mkl._find(), "lib": None})


def _count_packs(monkeypatch) -> list:
    calls, real = [], mkl.packed

    def spy(W, M, transpose, slot=0):
        buf = real(W, M, transpose, slot)
        calls.append((W.shape, M, transpose, buf is not None))
        return buf
    monkeypatch.setattr(mkl, "packed", spy)
    return calls


def _stack(backend, cell, activation, masked, bidirectional, dtype=np.float64):
    kernels.use(backend)
    s = Stack(cell, D, H, 2, bidirectional=bidirectional, activation=activation)
    rng = np.random.default_rng(5)
    params = s.init(rng, dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    state0 = gradcheck.upstream(s.zero_state(N, dtype), rng)
    hs, state, cache = s.forward(x, params, state0, MASK if masked else None)
    dhs, dstate = gradcheck.upstream(hs, rng), gradcheck.upstream(state, rng)
    dx, dstate0, grads = s.backward(dhs, cache, dstate)
    flat = lambda st: st if isinstance(st, tuple) else (st,)   # noqa: E731
    return {"hs": hs, "dx": dx, **{f"d{k}": g for k, g in grads.items()},
            **{f"state[{i}]": a for i, a in enumerate(flat(state))},
            **{f"dstate0[{i}]": a for i, a in enumerate(flat(dstate0))}}


def _assert_close(got, expected, tol=1e-12):
    assert set(got) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=tol, atol=tol, err_msg=key)


@pytest.mark.parametrize("blas", ["mkl", "openblas"])
@pytest.mark.parametrize("parts", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("cell, activation", CELLS)
def test_the_loops_on_each_blas_equal_the_reference(monkeypatch, cell, activation, masked, bidirectional, parts, blas):
    """One part at one BLAS thread, or two parts of the batch split: the loops pack W_h (forward) and W_hᵀ
    (backward, packed from W_h itself) once per layer call under MKL, and call OpenBLAS with W_h as before
    otherwise; both agree with the NumPy reference."""
    if blas == "openblas":
        _openblas(monkeypatch)
    split.use("off" if parts == 1 else "batch")
    monkeypatch.setattr(split, "max_parts", lambda: parts)
    packs = _count_packs(monkeypatch)
    with threadpool_limits(1, user_api="blas"):
        expected = _stack("numpy", cell, activation, masked, bidirectional)
        got = _stack("numba", cell, activation, masked, bidirectional)
    _assert_close(got, expected)
    if blas == "mkl":
        loops = 2 * (2 if bidirectional else 1)                     # layers x directions
        assert len(packs) == 2 * loops * parts                      # forward and backward, every part
        assert all(used for *_, used in packs) and {p[2] for p in packs} == {False, True}
    else:
        assert not any(used for *_, used in packs)


def test_the_loops_use_openblas_with_two_blas_threads_in_one_part(monkeypatch):
    """"off" with two BLAS threads keeps OpenBLAS's two-thread per-step product (MKL runs sequential)."""
    split.use("off")
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    packs = _count_packs(monkeypatch)
    with threadpool_limits(2, user_api="blas"):
        from unroll.nn.kernels import blas
        if blas.threads() < 2:
            pytest.skip("numpy's BLAS would not take two threads here")
        got = _stack("numba", "lstm", "tanh", False, False)
    _assert_close(got, _stack("numpy", "lstm", "tanh", False, False))
    assert packs == []


@pytest.mark.parametrize("cell, activation", CELLS)
def test_gradients_on_the_mkl_path_match_centred_differences(monkeypatch, cell, activation):
    kernels.use("numba")
    split.use("off")
    packs = _count_packs(monkeypatch)
    mask = np.ones((4, 6))
    mask[2:, 1] = 0
    with threadpool_limits(1, user_api="blas"):
        for stack in (Stack(cell, D, H, 2, activation=activation), Stack(cell, D, H, 1, bidirectional=True,
                                                                         activation=activation)):
            errors = gradcheck.check_stack(stack, mask, 4, 6, D, np.random.default_rng(7))
            assert max(errors.values()) < 1e-7, errors
    assert packs and all(used for *_, used in packs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell, activation", CELLS)
def test_torch_parity_on_the_mkl_path(monkeypatch, cell, activation, dtype):
    pytest.importorskip("torch")
    from tests.interop import test_torch_parity as parity
    split.use("off")
    packs = _count_packs(monkeypatch)
    with threadpool_limits(1, user_api="blas"):
        for layers, bidirectional, lengths in ((2, False, None), (2, True, [3, 5, 1])):
            s = Stack(cell, parity.D, parity.H, layers, bidirectional=bidirectional, activation=activation)
            ours, theirs = parity.run_both(s, dtype, seed=layers + 10 * bidirectional, lengths=lengths)
            parity.assert_parity(s, ours, theirs, parity.TOL[dtype])
    assert packs and all(used for *_, used in packs)


@pytest.mark.parametrize("fractional", [False, True])
def test_the_regularised_lstm_on_the_mkl_path_equals_the_reference(monkeypatch, fractional):
    from tests.nn.test_lstm_reg import _run, _setup
    args = _setup(0, fractional)
    packs = _count_packs(monkeypatch)
    with threadpool_limits(1, user_api="blas"):
        ref = _run("numpy", "off", monkeypatch, *args)
        got = _run("numba", "off", monkeypatch, *args)              # one part at one thread: MKL's products
    _assert_close(got, ref)
    assert packs and all(used for *_, used in packs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gemm_takes_transposed_views_and_blocks_of_a_result(dtype):
    rng = np.random.default_rng(1)
    x, d, W = (rng.standard_normal(s).astype(dtype) for s in ((40, 7), (40, 11), (7, 11)))
    cases = [(x, W), (x.T.copy().T, W), (x.T @ d, np.asfortranarray(W.T @ W)), (d[:, :7].T, x[:, :3])]
    for a, b in cases + [(x.T, d), (d, W.T)]:
        out = np.full((a.shape[0], b.shape[1]), np.nan, dtype)
        assert mkl.gemm(a, b, out)
        np.testing.assert_allclose(out, a @ b, rtol=1e-12 if dtype == np.float64 else 1e-5, atol=1e-5)
    full = np.full((7, 11), np.nan, dtype)
    for s0, s1 in ((0, 5), (5, 11)):                               # column blocks of one result, as split.matmul cuts
        assert mkl.gemm(x.T, d[:, s0:s1], full[:, s0:s1])
    np.testing.assert_allclose(full, x.T @ d, rtol=1e-5, atol=1e-5)
    out = np.empty((40, 4), dtype)
    assert not mkl.gemm(x, W[:, ::3], out)                          # a strided operand: numpy's, not MKL's
    assert not mkl.gemm(x.astype(np.float32 if dtype == np.float64 else np.float64), W, np.empty((40, 11), dtype))


def test_split_matmul_runs_mkl_at_one_thread(monkeypatch):
    calls, real = [], mkl.gemm
    monkeypatch.setattr(mkl, "gemm", lambda a, b, out: calls.append(a.shape) or real(a, b, out))
    monkeypatch.setattr(split, "MIN_PRODUCT", 0)
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((30, 8)), rng.standard_normal((8, 6))
    split.use("off")
    with threadpool_limits(1, user_api="blas"):
        np.testing.assert_allclose(split.matmul(a, b, np.arange(6.0)), a @ b + np.arange(6.0), rtol=1e-12)
        np.testing.assert_allclose(split.matmul(a.T, a), a.T @ a, rtol=1e-12, atol=1e-12)
    assert calls == [(30, 8), (8, 30)]
    _openblas(monkeypatch)
    with threadpool_limits(1, user_api="blas"):
        split.matmul(a, b)
    assert len(calls) == 2


def test_unroll_blas_is_read_and_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(mkl, "_state", None)
    monkeypatch.setenv("UNROLL_BLAS", "eigen")
    with pytest.raises(ValueError, match=r"^UNROLL_BLAS must be one of auto, mkl, openblas, got 'eigen'$"):
        mkl.available()
    monkeypatch.setenv("UNROLL_BLAS", "openblas")
    assert not mkl.available() and mkl.packed(np.eye(4), 2, False) is None
    monkeypatch.setattr(mkl, "_state", None)
    monkeypatch.setattr(mkl, "_open", lambda: None)
    monkeypatch.setenv("UNROLL_BLAS", "mkl")
    with pytest.raises(ValueError, match=r"^UNROLL_BLAS=mkl but Intel MKL was not found \(pip install mkl\)$"):
        mkl.available()


def test_an_mkl_that_numpy_loaded_is_left_to_numpy(monkeypatch):
    monkeypatch.setattr(mkl, "_state", None)
    monkeypatch.setattr(mkl, "_loaded_elsewhere", lambda: True)
    monkeypatch.setenv("UNROLL_BLAS", "auto")
    assert not mkl.available() and mkl._state["found"] is None      # nothing opened, its threads untouched
    monkeypatch.setattr(mkl, "_state", None)
    monkeypatch.setenv("UNROLL_BLAS", "mkl")
    with pytest.raises(ValueError, match=r"^UNROLL_BLAS=mkl but numpy's own BLAS is an MKL, whose threads unroll "
                                         r"leaves to numpy$"):
        mkl.available()


def test_our_own_mkl_is_not_taken_for_numpys():
    assert mkl._find()["found"] is not None and not mkl._loaded_elsewhere()


def test_without_mkl_the_loops_names_are_bound_to_stubs(monkeypatch):
    monkeypatch.setattr(mkl, "_state", {"lib": None, "found": None, "stubs": []})
    bound = {}
    mkl.register(lambda name, address: bound.setdefault(name, address))
    assert set(bound) == {"unroll_mkl_sgemm_compute", "unroll_mkl_dgemm_compute"} and all(bound.values())
    assert len(mkl._state["stubs"]) == 2


@pytest.mark.parametrize("cached", ["mkl", "openblas", None])
def test_auto_takes_the_race_s_choice_cached_per_cpu(monkeypatch, tmp_path, cached):
    file = tmp_path / "calibration.json"
    monkeypatch.setenv("UNROLL_CALIBRATION", str(file))
    monkeypatch.setenv("UNROLL_BLAS", "auto")
    calibrate.forget()
    monkeypatch.setattr(mkl, "_state", None)
    try:
        if cached:
            calibrate.save_entry(calibrate.BLAS_KEY, {"choice": cached})
        assert mkl.available() == (cached != "openblas") if cached else mkl.available() in (True, False)
        entry = calibrate.read(file)["machines"][calibrate.cpu_model()][calibrate.BLAS_KEY]
        if cached is None:                                          # measured now: both BLASes, both shapes
            assert entry["choice"] in ("mkl", "openblas") and len(entry["ms"]["mkl"]) == len(mkl.RACE_SHAPES)
            assert mkl.available() == (entry["choice"] == "mkl")
        assert mkl.name() == ("mkl" if mkl.available() else "openblas")
    finally:
        calibrate.forget()
        monkeypatch.setattr(mkl, "_state", None)
