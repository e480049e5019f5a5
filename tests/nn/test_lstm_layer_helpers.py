"""Helpers of the LSTM's whole-layer loops (lever 14, docs/performance.md): ``mathfn.borrowed``, an array
without its owner inside compiled code, ``mathfn.prefetch``, a cache hint, and ``layer_common.transposed``,
the tiled copy of ``W_hᵀ``.

The whole-layer loops rebind their array arguments to borrowed ones so that the views they take per row
carry no reference counts. A borrowed array must read and write the caller's memory with the caller's
shape and strides, its views likewise, and leave the caller's array exactly as referenced as before.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from numba import njit

from unroll.nn.kernels.layer_common import transposed
from unroll.nn.kernels.mathfn import borrowed, prefetch, prefetch_write


@njit(cache=False)
def _rows_scaled(a, out, scale):
    """out[n, j] = scale * a[n, j] + n, through borrowed arrays and one row view each per n."""
    a, out = borrowed(a), borrowed(out)
    for n in range(a.shape[0]):
        src, dst = a[n], out[n]
        for j in range(src.shape[0]):
            dst[j] = scale * src[j] + n
    return out.shape[0] * 1000 + out.shape[1]


@njit(cache=False)
def _shape_strides(a):
    b = borrowed(a)
    return b.shape[0], b.shape[1], b.strides[0], b.strides[1], b[1, 2]


def test_borrowed_reads_and_writes_the_callers_memory():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = np.zeros((3, 4), np.float32)
    assert _rows_scaled(a, out, np.float32(2.0)) == 3004
    np.testing.assert_array_equal(out, 2 * a + np.arange(3, dtype=np.float32)[:, None])


def test_borrowed_keeps_shape_and_strides_of_a_strided_view():
    base = np.arange(40, dtype=np.float64).reshape(5, 8)
    view = base[::2, 1::3]                        # (3, 3), strides (128, 24)
    assert _shape_strides(view) == (3, 3, 128, 24, view[1, 2])
    assert view[1, 2] == 23.0                   # base[2, 7]


def test_borrowed_leaves_the_callers_reference_count_as_it_was():
    a = np.ones((4, 5), np.float32)
    out = np.empty_like(a)
    _rows_scaled(a, out, np.float32(1.0))         # compiled before counting
    before = (sys.getrefcount(a), sys.getrefcount(out))
    for _ in range(3):
        _rows_scaled(a, out, np.float32(1.0))
    assert (sys.getrefcount(a), sys.getrefcount(out)) == before
    np.testing.assert_array_equal(out, a + np.arange(4, dtype=np.float32)[:, None])


@pytest.mark.parametrize("shape", [(5, 20), (16, 64), (17, 33), (128, 512), (1, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_is_the_contiguous_transpose(shape, dtype):
    W = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    out = transposed(W)
    assert out.flags.c_contiguous and out.dtype == dtype and out.shape == shape[::-1]
    np.testing.assert_array_equal(out, W.T)


def test_transposed_of_a_non_contiguous_matrix():
    W = np.arange(60, dtype=np.float32).reshape(6, 10)[:, ::2]     # (6, 5), strided
    np.testing.assert_array_equal(transposed(W), W.T)


@njit(cache=False)
def _sum_with_prefetch(a, ahead):
    total = 0.0
    for k in range(a.shape[0]):
        prefetch(a, k + ahead)                    # past the end for the last rows: a hint, never a fault
        total += a[k]
    return total


def test_prefetch_is_only_a_hint():
    a = np.arange(1000, dtype=np.float64)
    assert _sum_with_prefetch(a, 16) == 499500.0
    assert _sum_with_prefetch(a, 1 << 30) == 499500.0


@njit(cache=False)
def _fill_with_write_prefetch(a, ahead):
    for k in range(a.shape[0]):
        prefetch_write(a, k + ahead)
        a[k] = 2.0 * k
    return a.sum()


def test_prefetch_write_is_only_a_hint():
    a = np.zeros(500)
    assert _fill_with_write_prefetch(a, 8) == 249500.0
    assert _fill_with_write_prefetch(a, -(1 << 20)) == 249500.0
    np.testing.assert_array_equal(a, 2.0 * np.arange(500))
