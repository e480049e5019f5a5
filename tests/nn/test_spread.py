"""``split.spread`` (lever 16): under "own", the elementwise work between the products (the loss's softmax,
Adam's one-pass update) cut across the threads. Each element gets the operations it gets on one thread, so
every result is compared bit for bit with "off"."""

from __future__ import annotations

import numpy as np
import pytest

from unroll.nn import kernels, ops
from unroll.nn.kernels import split
from unroll.train.optim import Adam


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.setattr(split, "max_parts", lambda: 3)             # three parts, whatever the machine's cores
    yield
    split.use(None)
    kernels.use(None)


def _cuts(monkeypatch) -> list:
    seen, real = [], split.run
    monkeypatch.setattr(split, "run", lambda task, ranges: seen.append(list(ranges)) or real(task, ranges))
    return seen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_spread_over_threads_is_the_serial_update_bit_for_bit(monkeypatch, dtype):
    monkeypatch.setattr("unroll.train.optim.SPREAD_MIN", 100)
    rng = np.random.default_rng(0)
    shapes = {"a": (7, 40), "b": (40,), "c": (33, 9), "d": (5,)}       # 622 elements end to end
    start = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    out = {}
    for strategy in ("off", "own"):
        split.use(strategy)
        params = {k: v.copy() for k, v in start.items()}
        opt = Adam(params, lr=3e-3, weight_decay=0.01)
        cuts = _cuts(monkeypatch) if strategy == "own" else []
        for step in range(3):
            grads = {k: np.random.default_rng(step).standard_normal(s).astype(dtype) for k, s in shapes.items()}
            opt.step(grads)
        out[strategy] = (params, opt.state, opt.steps)
    assert cuts == [[(0, 207), (207, 414), (414, 622)]] * 3              # one spread a step, three parts
    assert out["own"][2] == out["off"][2] == 3
    for k in shapes:
        assert np.array_equal(out["own"][0][k], out["off"][0][k]), k
        for buf in ("m", "v"):
            assert np.array_equal(out["own"][1][buf][k], out["off"][1][buf][k]), (buf, k)


def test_adam_with_lr_scales_or_a_bad_gradient_takes_the_serial_path(monkeypatch):
    split.use("own")
    cuts = _cuts(monkeypatch)
    params = {"w": np.ones((300, 300), np.float32)}
    opt = Adam(params, lr=1e-3)
    opt.step({"w": np.ones((300, 300), np.float32)}, lr_scales={"w": 0.5})
    with pytest.raises(ValueError, match=r"grads\['w'\] has shape \(3,\) but params\['w'\] has \(300, 300\)"):
        opt.step({"w": np.ones(3, np.float32)})
    assert cuts == []
    opt.step({"w": np.ones((300, 300), np.float32)})
    assert cuts == [[(0, 45000), (45000, 90000)]]                      # 90,000 elements: two parts of >= 2^15


@pytest.mark.parametrize("masked", [False, True])
def test_the_losss_softmax_spread_over_steps_is_the_serial_one_bit_for_bit(monkeypatch, masked):
    monkeypatch.setattr(ops, "SPREAD_MIN", 50)
    rng = np.random.default_rng(1)
    T, N, V = 9, 4, 13
    logits, targets = rng.standard_normal((T, N, V)).astype(np.float32), rng.integers(0, V, (T, N))
    mask = (rng.random((T, N)) > 0.2).astype(np.float32) if masked else None
    out = {}
    for strategy in ("off", "own"):
        split.use(strategy)
        cuts = _cuts(monkeypatch)
        out[strategy] = ops.softmax_cross_entropy(logits.copy(), targets, mask, inplace=True)
    assert cuts == [[(0, 3), (3, 6), (6, 9)]]                           # three blocks of three steps
    assert out["own"][0] == out["off"][0]
    assert np.array_equal(out["own"][1], out["off"][1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_bias_gradient_spread_over_columns_is_the_serial_sum_bit_for_bit(monkeypatch, dtype):
    monkeypatch.setattr(ops, "SPREAD_MIN_SUM", 1000)
    monkeypatch.setattr(split, "MIN_PRODUCT", 1 << 40)                  # the products unsplit: only db is cut
    rng = np.random.default_rng(3)
    dy, x, W = rng.standard_normal((6, 50, 65)).astype(dtype), rng.standard_normal((6, 50, 8)).astype(dtype), \
        rng.standard_normal((8, 65)).astype(dtype)
    out = {}
    for strategy in ("off", "own"):
        split.use(strategy)
        cuts = _cuts(monkeypatch)
        out[strategy] = ops.linear_backward(dy, x, W)
    assert cuts == [[(0, 21), (21, 43), (43, 65)]]                      # 300 rows: columns in blocks of >= 3
    assert np.array_equal(out["own"][2], out["off"][2])
    assert np.array_equal(out["off"][2], dy.reshape(-1, 65).sum(axis=0))
