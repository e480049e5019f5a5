"""ops.linear_forward's bias folded into the product (kernels/linear.py's affine) and ops.linear_backward's
column sums, against numpy's own product and sums, in a language model, against torch and centred differences.

``ops.AFFINE_MIN`` (the smallest output that takes the fold) is set to 1 here, so the small test shapes run it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from unroll.nn import gradcheck, kernels, ops
from unroll.nn.kernels import linear

pytestmark = pytest.mark.skipif(not kernels.layer_loop(2), reason="numpy's BLAS is not callable from numba here")


@pytest.fixture(autouse=True)
def _fold_everything(monkeypatch):
    monkeypatch.setattr(ops, "AFFINE_MIN", 1)
    yield
    kernels.use(None)


def _operands(dtype, T=6, N=4, D=5, K=7, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((T, N, D)).astype(dtype), rng.standard_normal((D, K)).astype(dtype),
            rng.standard_normal(K).astype(dtype))


def _spy(monkeypatch):
    """Count the calls of kernels/linear.py's affine (ops looks it up at every call)."""
    calls, real = [], linear.affine
    monkeypatch.setattr(linear, "affine", lambda *a: (calls.append(a[0].shape), real(*a))[1])
    return calls


def test_affine_equals_the_product_plus_the_bias_float64(monkeypatch):
    calls = _spy(monkeypatch)
    x, W, b = _operands(np.float64)
    y = ops.linear_forward(x, W, b)
    assert calls == [(24, 5)] and y.shape == (6, 4, 7) and y.dtype == np.float64
    np.testing.assert_allclose(y.reshape(-1, 7), x.reshape(-1, 5) @ W + b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, np.einsum("tnd,dk->tnk", x, W) + b, rtol=1e-12, atol=1e-12)


def test_affine_float32_agrees_with_numpy_to_float32_rounding(monkeypatch):
    calls = _spy(monkeypatch)
    x, W, b = _operands(np.float32, T=50, N=20, D=33, K=65, seed=1)
    y = ops.linear_forward(x, W, b)
    assert len(calls) == 1 and y.dtype == np.float32
    ref = x.astype(np.float64).reshape(-1, 33) @ W.astype(np.float64) + b
    np.testing.assert_allclose(y.reshape(-1, 65), ref, rtol=0, atol=2e-5 * np.abs(ref).max())


def test_the_fold_runs_only_where_it_may(monkeypatch):
    calls = _spy(monkeypatch)
    x, W, b = _operands(np.float64)
    b32 = b.astype(np.float32)
    cases = {
        "numpy path": lambda: (kernels.use("numpy"), ops.linear_forward(x, W, b), kernels.use(None))[1],
        "batch of one sequence": lambda: ops.linear_forward(x[:, :1], W, b)[:, [0, 0, 0, 0]],
        "W a transposed view": lambda: ops.linear_forward(x, np.ascontiguousarray(W.T).T, b),
        "x a strided view": lambda: ops.linear_forward(np.ascontiguousarray(x[:, :, ::-1])[:, :, ::-1], W, b),
        "b of another dtype": lambda: ops.linear_forward(x, W, b32) - b32 + b,
        "no bias": lambda: ops.linear_forward(x, W) + b,
    }
    ref = x @ W + b
    ref[:, 1:] = ref[:, :1]
    for name, run in cases.items():
        expected = ref if name == "batch of one sequence" else x @ W + b
        np.testing.assert_allclose(run(), expected, rtol=1e-12, atol=1e-12, err_msg=name)
    assert calls == []
    monkeypatch.setattr(ops, "AFFINE_MIN", 6 * 4 * 7 + 1)              # one output fewer than the minimum
    ops.linear_forward(x, W, b)
    assert calls == []


def test_column_sums_equal_numpys_sum_over_rows():
    rng = np.random.default_rng(2)
    for dtype in (np.float64, np.float32):
        a = rng.standard_normal((2500, 65)).astype(dtype)
        out = np.empty(65, dtype)
        linear.column_sums(a, out)
        np.testing.assert_array_equal(out, a.sum(axis=0))


def _model(cell, dtype=np.float64):
    from unroll.models import LanguageModel
    return LanguageModel(vocab_size=7, hidden_size=4, num_layers=2, cell=cell, seed=3, dtype=dtype, embedding_size=3,
                         dropout=0.0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_language_model_on_the_fold_equals_the_numpy_reference(monkeypatch, cell):
    calls = _spy(monkeypatch)
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 7, (5, 3)), rng.integers(0, 7, (5, 3))
    out = {}
    for backend in ("numpy", "numba"):
        kernels.use(backend)
        out[backend] = _model(cell).loss_and_grads(x, y)
    assert len(calls) == 2                                              # layer 1's projection, the output layer
    assert out["numba"][0] == pytest.approx(out["numpy"][0], rel=1e-12)
    for key, g in out["numpy"][1].items():
        np.testing.assert_allclose(out["numba"][1][key], g, rtol=1e-12, atol=1e-12, err_msg=key)


def test_language_model_on_the_fold_matches_centred_differences(monkeypatch):
    calls = _spy(monkeypatch)
    rng = np.random.default_rng(6)
    model = _model("lstm")
    x, y = rng.integers(0, 7, (5, 3)), rng.integers(0, 7, (5, 3))
    _, grads, _ = model.loss_and_grads(x, y)
    assert calls
    errors = gradcheck.check(lambda: model.loss_and_grads(x, y)[0], model.params, grads, eps=1e-5)
    assert max(errors.values()) < 1e-7, errors


def test_language_model_on_the_fold_matches_torch(monkeypatch):
    torch = pytest.importorskip("torch")
    from unroll.interop.torch_weights import to_torch
    calls = _spy(monkeypatch)
    rng = np.random.default_rng(4)
    model = _model("lstm")
    x, y = rng.integers(0, 7, (5, 3)), rng.integers(0, 7, (5, 3))
    loss, grads, _ = model.loss_and_grads(x, y)
    assert len(calls) == 2
    emb, lstm, out = torch.nn.Embedding(7, 3).double(), torch.nn.LSTM(3, 4, 2).double(), torch.nn.Linear(4, 7).double()
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(model.params["embed.W"]))
        for name, value in to_torch({k: v for k, v in model.params.items() if k.startswith("layer")}, model.stack).items():
            getattr(lstm, name).copy_(torch.from_numpy(np.asarray(value)))
        out.weight.copy_(torch.from_numpy(model.params["out.W"].T))
        out.bias.copy_(torch.from_numpy(model.params["out.b"]))
    ref = torch.nn.functional.cross_entropy(out(lstm(emb(torch.from_numpy(x)))[0]).reshape(-1, 7),
                                            torch.from_numpy(y).reshape(-1))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grads["out.b"], out.bias.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grads["layer1.lstm.b"], lstm.bias_ih_l1.grad.numpy(), rtol=1e-10,
                               atol=1e-14)
    np.testing.assert_allclose(grads["layer1.lstm.W_x"], lstm.weight_ih_l1.grad.numpy().T, rtol=1e-10, atol=1e-14)


def test_a_batch_of_one_sequence_does_not_load_numba():
    code = ("import sys, numpy as np\nfrom unroll.nn import ops\nops.AFFINE_MIN = 1\n"
            "y = ops.linear_forward(np.ones((300, 1, 4)), np.ones((4, 300)), np.ones(300))\n"
            "print(float(y.sum()), 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "UNROLL_KERNELS": "numba"}).stdout.split()
    assert out == [str(300 * 300 * 5.0), "False"]
