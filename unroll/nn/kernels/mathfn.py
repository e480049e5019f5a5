"""Scalar math for the kernels, typed by the array dtype.

float64 uses the exact ``np.tanh`` (libm), so the fused path agrees with the NumPy reference to rounding;
float32 uses Eigen's rational approximation of tanh on [-7.905, 7.905] (beyond it tanh is ±1 in float32),
max error a few float32 ulps, which LLVM vectorizes (libm's scalar tanh does not vectorize and cost the
fused loop 4x). The kernels are compiled with ``error_model="numpy"`` (a float division never raises),
without which no loop vectorizes; the cells' kernels also let LLVM contract ``a * b + c`` into one FMA
(``fastmath={"contract"}``, nothing else of fastmath), which made the LSTM forward step 25% faster
(50x128: 90 -> 68 us; 50x512: 200 -> 166 us). The optimizer's kernel does not, so it stays bit-identical
to the ufunc sequence. The cells' row bodies (``ROW_OPTIONS``) are inlined into the loops that call them
(numba's ``inline="always"``): a row is then no call with its arrays' reference counting, and LLVM optimizes
the row's loops inside the time loop (docs/performance.md, lever 11).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}
CELL_OPTIONS = {**OPTIONS, "fastmath": {"contract"}}   # a * b + c as one FMA: the LSTM step 25% faster
ROW_OPTIONS = {**CELL_OPTIONS, "inline": "always"}    # row bodies: part of the loop that calls them


def tanh(x):
    """tanh of a float32 or float64 scalar (numba only)."""
    raise NotImplementedError


def sigmoid(x):
    """0.5 (1 + tanh(x / 2)), the reference's overflow-free logistic (numba only)."""
    raise NotImplementedError


def const(value, like):
    """``value`` in the scalar type of ``like`` (numba only): keeps float32 arithmetic in float32."""
    raise NotImplementedError


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _tanh32(x):
    lim = np.float32(7.90531110763549805)
    x = min(max(x, -lim), lim)
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    p = x2 * p + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = x2 * q + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    return x * p / q


@overload(tanh, inline="always")
def _tanh_impl(x):
    if x == types.float32:
        return lambda x: _tanh32(x)
    return lambda x: np.tanh(x)


@overload(sigmoid, inline="always")
def _sigmoid_impl(x):
    if x == types.float32:
        return lambda x: np.float32(0.5) * (np.float32(1.0) + _tanh32(np.float32(0.5) * x))
    return lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))


@overload(const, inline="always")
def _const_impl(value, like):
    if like == types.float32 or getattr(like, "dtype", None) == types.float32:
        return lambda value, like: np.float32(value)
    return lambda value, like: np.float64(value)


@intrinsic
def borrowed(typingctx, arr):
    """``arr`` without its owner (numba only): the same data, shape and strides with no memory-info pointer,
    so that the views a loop takes of it (``gates[t, n]``, ``gt[:H]``) carry no reference count. numba
    increments and decrements an array's count, an atomic operation in a call numba does not inline, for
    every view it makes; the whole-layer loops take about twenty per row (lever 14, docs/performance.md).
    Only for arrays that the caller keeps alive for the whole call (a kernel's arguments), never for one
    that is returned or stored."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        src = context.make_array(arr)(context, builder, value=args[0])
        dst = context.make_array(arr)(context, builder)
        context.populate_array(dst, data=src.data, shape=src.shape, strides=src.strides, itemsize=src.itemsize,
                               meminfo=None, parent=None)
        return dst._getvalue()
    return arr(arr), codegen


def _prefetch_codegen(rw: int):
    """The code of ``prefetch`` (rw 0) and ``prefetch_write`` (rw 1): ``llvm.prefetch`` of element k's line."""
    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, value=args[0])
        index = context.cast(builder, args[1], signature.args[1], types.intp)
        address = builder.bitcast(builder.gep(ary.data, [index]), cgutils.voidptr_t)
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", (cgutils.voidptr_t,), ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, i32, i32, i32]))
        builder.call(fn, [address, i32(rw), i32(3), i32(1)])    # keep in all cache levels, data
        return context.get_dummy_value()
    return codegen


@intrinsic
def prefetch(typingctx, arr, k):
    """Ask the CPU to bring the cache line holding element ``k`` of ``arr``'s data into its caches, for
    reading (LLVM's ``llvm.prefetch``; numba only). A hint: it never faults and changes no result, so ``k``
    may point past the array. k counts elements from the data pointer (the flat index of a C-contiguous
    array)."""
    if not isinstance(arr, types.Array) or not isinstance(k, types.Integer):
        return None
    return types.none(arr, k), _prefetch_codegen(0)


@intrinsic
def prefetch_write(typingctx, arr, k):
    """``prefetch`` for a line about to be written (x86's PREFETCHW: the line arrives owned, so the store
    does not wait for its read-for-ownership)."""
    if not isinstance(arr, types.Array) or not isinstance(k, types.Integer):
        return None
    return types.none(arr, k), _prefetch_codegen(1)
