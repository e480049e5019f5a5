"""The linear layers' bias, folded into their products (``ops.linear_forward`` / ``linear_backward``).

``y = x W + b`` as numpy writes it is three passes over y: OpenBLAS's gemm first sets C to zero (beta = 0),
the product accumulates into it, and ``y += b`` reads and writes y again. ``affine`` sets y's rows to b and
lets one gemm add ``x W`` to them (beta = 1, numpy's own OpenBLAS through ``kernels/blas.py``): two passes.
``column_sums`` is ``db = Σ_rows δy`` as numpy's ``sum(axis=0)`` makes it (the rows added in order into
one accumulator row), compiled, so float64 and float32 give numpy's numbers.
"""

from __future__ import annotations

from numba import njit

from unroll.nn.kernels import blas
from unroll.nn.kernels.mathfn import OPTIONS


def available() -> bool:
    """True when numpy's BLAS is callable from compiled code (``blas.available``)."""
    return blas.available()


@njit(**OPTIONS)
def affine(x, W, b, y):
    """y = x W + b: x (M, K), W (K, P), b (P,), y (M, P), all C-contiguous and of one dtype; y is overwritten."""
    P = b.shape[0]
    for r in range(y.shape[0]):
        row = y[r]
        for j in range(P):
            row[j] = b[j]
    blas.matmul(x, W, y, 1.0)


@njit(**OPTIONS)
def column_sums(a, out):
    """out = Σ_r a[r] (rows added in order): a (M, P) C-contiguous, out (P,)."""
    P = out.shape[0]
    for j in range(P):
        out[j] = 0.0
    for r in range(a.shape[0]):
        row = a[r]
        for j in range(P):
            out[j] += row[j]
