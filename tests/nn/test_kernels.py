"""The fused (numba) path against the NumPy reference path, cell by cell, and its own gradient check.

Both paths are run on the same inputs (float64 and float32, with and without a mask, with initial states
and gradients flowing into the final state); outputs, final states and every gradient must agree to 1e-12
in float64. The fused path is also checked against centred differences on its own, and a cache made on
one path must backpropagate the same on the other (they share the cache layout).
"""

from __future__ import annotations

import numpy as np
import pytest

from unroll.nn import gradcheck, gru, kernels, lstm, rnn

T, N, D, H = 6, 4, 3, 5
CELLS = [("rnn", rnn, {"activation": "tanh"}), ("rnn", rnn, {"activation": "relu"}),
         ("lstm", lstm, {}), ("gru", gru, {})]
IDS = ["rnn-tanh", "rnn-relu", "lstm", "gru"]
MASK = np.array([[1, 1, 1, 1]] * 3 + [[1, 0, 1, 1]] * 2 + [[1, 0, 0, 1]])   # (T, N): ragged lengths 6, 3, 5, 6


@pytest.fixture(autouse=True)
def _restore_backend():
    yield
    kernels.use(None)


def _setup(name, module, dtype, seed=0):
    rng = np.random.default_rng(seed)
    params = {k: v.astype(dtype) for k, v in module.init(D, H, rng, np.float64).items()}
    x = rng.standard_normal((T, N, D)).astype(dtype)
    if name == "lstm":
        state0 = tuple(rng.standard_normal((N, H)).astype(dtype) for _ in range(2))
        dstate = tuple(rng.standard_normal((N, H)).astype(dtype) for _ in range(2))
    else:
        state0, dstate = rng.standard_normal((N, H)).astype(dtype), rng.standard_normal((N, H)).astype(dtype)
    dhs = rng.standard_normal((T, N, H)).astype(dtype)
    return params, x, state0, dstate, dhs


def _run(module, options, params, x, state0, dstate, dhs, mask, backend):
    kernels.use(backend)
    hs, state, cache = module.forward(x, params, state0, mask, **options)
    dx, dstate0, grads = module.backward(dhs, cache, dstate)
    return {"hs": hs, "state": state, "dx": dx, "dstate0": dstate0, **{f"d{k}": v for k, v in grads.items()}}


def _flatten(result):
    out = {}
    for k, v in result.items():
        if isinstance(v, tuple):
            out.update({f"{k}[{i}]": a for i, a in enumerate(v)})
        else:
            out[k] = v
    return out


FUSED = ["numba", "numba-step"]     # the LSTM's whole-layer loop (kernels/lstm_layer.py) and the per-step loop


@pytest.mark.parametrize("fused_backend", FUSED)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("name,module,options", CELLS, ids=IDS)
def test_fused_path_equals_numpy_reference_float64(name, module, options, masked, fused_backend):
    args = _setup(name, module, np.float64)
    mask = MASK if masked else None
    ref = _flatten(_run(module, options, *args, mask, "numpy"))
    fused = _flatten(_run(module, options, *args, mask, fused_backend))
    assert ref.keys() == fused.keys()
    for key in ref:
        assert fused[key].dtype == np.float64, key
        np.testing.assert_allclose(fused[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("fused_backend", FUSED)
@pytest.mark.parametrize("name,module,options", CELLS, ids=IDS)
def test_fused_path_equals_numpy_reference_float32(name, module, options, fused_backend):
    args = _setup(name, module, np.float32, seed=1)
    ref = _flatten(_run(module, options, *args, MASK, "numpy"))
    fused = _flatten(_run(module, options, *args, MASK, fused_backend))
    for key in ref:
        assert fused[key].dtype == np.float32, key
        np.testing.assert_allclose(fused[key], ref[key], rtol=1e-5, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("fused_backend", FUSED)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("name,module,options", CELLS, ids=IDS)
def test_fused_path_gradients_match_centred_differences(name, module, options, masked, fused_backend):
    kernels.use(fused_backend)
    params, x, state0, dstate, dhs = _setup(name, module, np.float64, seed=2)
    if options.get("activation") == "relu":   # keep every pre-activation away from the kink at 0
        params["b"] += 0.5
    mask = MASK if masked else None

    def loss():
        hs, state, _ = module.forward(x, params, state0, mask, **options)
        return gradcheck.contract((hs, *state) if name == "lstm" else (hs, state),
                                  (dhs, *dstate) if name == "lstm" else (dhs, dstate))

    _, _, cache = module.forward(x, params, state0, mask, **options)
    dx, dstate0, grads = module.backward(dhs, cache, dstate)
    arrays, analytic = {"x": x, **params}, {"x": dx, **grads}
    if name == "lstm":
        arrays.update(h0=state0[0], c0=state0[1])
        analytic.update(h0=dstate0[0], c0=dstate0[1])
    else:
        arrays["h0"], analytic["h0"] = state0, dstate0
    errors = gradcheck.check(loss, arrays, analytic)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("name,module,options", CELLS, ids=IDS)
def test_cache_from_one_path_backpropagates_alike_on_the_other(name, module, options):
    params, x, state0, dstate, dhs = _setup(name, module, np.float64, seed=3)
    kernels.use("numba")
    _, _, cache = module.forward(x, params, state0, MASK, **options)
    kernels.use("numpy")
    _, _, cache_ref = module.forward(x, params, state0, MASK, **options)
    crossed = _flatten(dict(zip(("dx", "dstate0", "grads"), module.backward(dhs, cache, dstate))))
    ref = _flatten(dict(zip(("dx", "dstate0", "grads"), module.backward(dhs, cache_ref, dstate))))
    for key in ("dx", "dstate0", "dstate0[0]", "dstate0[1]"):
        if key in ref:
            np.testing.assert_allclose(crossed[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
    for key, g in ref["grads"].items():
        np.testing.assert_allclose(crossed["grads"][key], g, rtol=1e-12, atol=1e-12, err_msg=key)


def test_switch_reads_the_environment_and_rejects_unknown_names(monkeypatch):
    monkeypatch.setenv("UNROLL_KERNELS", "numpy")
    assert kernels.backend() == "numpy" and not kernels.fused(50)
    monkeypatch.setenv("UNROLL_KERNELS", "numba")
    assert kernels.backend() == "numba" and kernels.fused(50, "tanh") and not kernels.fused(50, "softsign")
    assert kernels.layer_loop(50)                   # numpy's BLAS (the wheel's OpenBLAS) is callable from numba
    monkeypatch.setenv("UNROLL_KERNELS", "numba-step")
    assert kernels.fused(50) and not kernels.layer_loop(50)
    assert not kernels.fused(1)                     # one sequence (sampling's priming pass) stays on NumPy
    kernels.use("numpy")
    assert kernels.backend() == "numpy"
    monkeypatch.setenv("UNROLL_KERNELS", "cuda")
    kernels.use(None)
    with pytest.raises(ValueError, match="UNROLL_KERNELS"):
        kernels.backend()
    with pytest.raises(ValueError, match="backend"):
        kernels.use("cuda")


# ----------------------------------------------------------------------------------------------------
# The embedding fold (models/language_model.py): xw_t = (E W_x + b)[x_t] in place of e_t W_x + b.

@pytest.mark.parametrize("backend", ["numba", "numba-step", "numpy"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_embedding_fold_equals_the_general_path(cell, backend):
    from unroll.models import LanguageModel
    kernels.use(backend)
    rng = np.random.default_rng(4)
    model = LanguageModel(vocab_size=7, hidden_size=5, num_layers=2, cell=cell, dtype=np.float64, embedding_size=3,
                          dropout=0.0)
    x, y = rng.integers(0, 7, (6, 4)), rng.integers(0, 7, (6, 4))
    state0 = gradcheck.upstream(model.zero_state(4), rng)
    results = {}
    for fold in (True, False):
        model.fold = fold
        logits, _, cache = model.forward(x, state0)
        assert cache.folded is fold
        results[fold] = (logits, *model.loss_and_grads(x, y, state0))
    np.testing.assert_allclose(results[True][0], results[False][0], rtol=1e-12, atol=1e-12)
    assert results[True][1] == pytest.approx(results[False][1], rel=1e-12)
    for key, g in results[False][2].items():
        np.testing.assert_allclose(results[True][2][key], g, rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_embedding_fold_gradients_match_centred_differences(cell):
    from unroll.models import LanguageModel
    rng = np.random.default_rng(5)
    model = LanguageModel(vocab_size=6, hidden_size=4, num_layers=2, cell=cell, dtype=np.float64, embedding_size=3,
                          dropout=0.0)      # the language model's default dropout would draw new masks
    model.fold = True
    x, y = rng.integers(0, 6, (5, 3)), rng.integers(0, 6, (5, 3))
    x[0, 0] = x[1, 0] = 2                                       # a repeated id: rows of δP accumulate
    loss, grads, _ = model.loss_and_grads(x, y)
    errors = gradcheck.check(lambda: model.loss_and_grads(x, y)[0], model.params, grads, eps=1e-5)
    assert max(errors.values()) < 1e-7, errors


def test_fold_is_automatic_only_for_vocabularies_smaller_than_the_batch():
    from unroll.models import LanguageModel
    model = LanguageModel(vocab_size=30, hidden_size=4, num_layers=1, cell="lstm")
    small, large = np.zeros((5, 4), np.int64), np.zeros((10, 4), np.int64)   # 20 and 40 tokens against V = 30
    assert not model.forward(small)[2].folded and model.forward(large)[2].folded


# ----------------------------------------------------------------------------------------------------
# One-pass Adam and the in-place softmax cross-entropy.

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_adam_equals_the_ufunc_sequence_bit_for_bit(dtype):
    from unroll.train.optim import Adam
    rng = np.random.default_rng(6)
    start = {"w": rng.standard_normal((7, 5)).astype(dtype), "b": rng.standard_normal(5).astype(dtype)}
    grads = [{k: rng.standard_normal(v.shape).astype(dtype) for k, v in start.items()} for _ in range(4)]
    out = {}
    for backend in ("numpy", "numba"):
        kernels.use(backend)
        params = {k: v.copy() for k, v in start.items()}
        opt = Adam(params, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6)
        for g in grads:
            opt.step(g)
        out[backend] = (params, opt.state)
    for k in start:
        np.testing.assert_array_equal(out["numba"][0][k], out["numpy"][0][k])
        for buf in ("m", "v"):
            np.testing.assert_array_equal(out["numba"][1][buf][k], out["numpy"][1][buf][k])


def test_inplace_softmax_cross_entropy_equals_the_copying_one():
    from unroll.nn import ops
    rng = np.random.default_rng(7)
    logits, targets = rng.standard_normal((4, 3, 6)) * 5, rng.integers(0, 6, (4, 3))
    mask = np.array([[1, 1, 1]] * 3 + [[1, 0, 1]])
    loss, d = ops.softmax_cross_entropy(logits, targets, mask)
    buffer = logits.copy()
    loss_in, d_in = ops.softmax_cross_entropy(buffer, targets, mask, inplace=True)
    assert d_in is buffer and loss_in == loss
    np.testing.assert_array_equal(d_in, d)
