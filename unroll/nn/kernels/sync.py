"""Atomic operations and a spinning barrier for threads inside compiled code (the hidden-unit split).

``kernels/lstm_units.py`` runs one layer's time loop on K threads at once, each owning a range of the hidden
units, and all of them must finish step t before any reads h_t: a barrier per step, hundreds per call.
Handing the step over through Python (``threading.Event``, lever 8) costs a sleep and a wake-up each time;
here the threads wait for each other inside the nogil kernels by watching a shared int64 counter:

- ``load_acquire(a, i)``, ``fetch_add(a, i, v)``: LLVM's atomic load (acquire) and read-modify-write
  (acq_rel) on element i of a 1-D int64 array, emitted with llvmlite's IRBuilder through
  ``numba.extending.intrinsic``, so the kernels stay ``@njit(cache=True, nogil=True)``;
- ``barrier(sync, rounds, K)``: the counter sync[COUNT] only grows; a thread arriving at its (rounds+1)-th
  barrier adds 1 and waits until the count reaches (rounds + 1) K. It spins ``SPINS`` loads (x86's PAUSE
  between them), then gives its core away between loads (``sched_yield``, registered with LLVM like
  kernels/blas.py's gemm, so caching keeps working): on a loaded machine, or with more threads than cores,
  nobody burns a core forever.
  A part that fails in Python sets sync[ABORT] (``abort``); the barrier then returns False and the
  kernels return early instead of waiting for a thread that will never come.

The acq_rel add publishes everything the thread wrote before it (its slice of h_t); the acquire load
makes the other threads' slices visible after it.
"""

from __future__ import annotations

import ctypes
import platform
import sys

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from unroll.nn.kernels.mathfn import OPTIONS

COUNT, ABORT, SIZE = 0, 8, 16          # sync's slots: the arrivals and the abort flag, on separate cache lines
SPINS = 2000                           # spins (a load and a pause each) before the waiting thread yields its core
X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")

_yield = types.ExternalFunction("unroll_sched_yield", types.int32())
_registered: bool | None = None


def available() -> bool:
    """True when the CPU-yield function was found and registered with LLVM (else no hidden-unit split)."""
    global _registered
    if _registered is None:
        _registered = _register()
    return _registered


def _register() -> bool:
    import llvmlite.binding as llvm
    try:
        if sys.platform == "win32":
            fn = ctypes.windll.kernel32.SwitchToThread          # type: ignore[attr-defined]
        else:
            fn = ctypes.CDLL(None).sched_yield
    except (OSError, AttributeError):
        return False
    llvm.add_symbol("unroll_sched_yield", ctypes.cast(fn, ctypes.c_void_p).value)
    return True


def new() -> np.ndarray:
    """A fresh sync array for one call of a split loop (every thread of the call shares it)."""
    return np.zeros(SIZE, np.int64)


def abort(sync: np.ndarray) -> None:
    """Release the other threads of a call whose part failed (their barriers return False)."""
    sync[ABORT] = 1


def _pointer(context, builder, sig, args):
    arrty = sig.args[0]
    ary = context.make_array(arrty)(context, builder, args[0])
    index = context.cast(builder, args[1], sig.args[1], types.intp)
    return cgutils.get_item_pointer(context, builder, arrty, ary, [index])


@intrinsic
def load_acquire(typingctx, a, i):
    """a[i] read with an atomic acquire load (a 1-D int64 array)."""
    def codegen(context, builder, sig, args):
        return builder.load_atomic(_pointer(context, builder, sig, args), "acquire", 8)
    return types.int64(a, i), codegen


@intrinsic
def fetch_add(typingctx, a, i, v):
    """a[i] += v atomically (acq_rel); returns the value before."""
    def codegen(context, builder, sig, args):
        value = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", _pointer(context, builder, sig, args), value, "acq_rel")
    return types.int64(a, i, v), codegen


@intrinsic
def pause(typingctx):
    """x86's PAUSE between two loads of a spin (a hyperthread sibling gets the core's resources, and the loop
    leaves the pipeline gently when the counter changes); nothing elsewhere."""
    def codegen(context, builder, sig, args):
        if X86:
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()
    return types.none(), codegen


@njit(**OPTIONS)
def barrier(sync, rounds, K):
    """Wait until all K threads have arrived at their (rounds + 1)-th barrier on ``sync``; False when the call
    was aborted (``abort``) while waiting."""
    target = (rounds + 1) * K
    fetch_add(sync, COUNT, 1)
    spins = 0
    while load_acquire(sync, COUNT) < target:
        if load_acquire(sync, ABORT) != 0:
            return False
        if spins < SPINS:
            spins += 1
            pause()
        else:
            _yield()
    return True


available()             # registers sched_yield with LLVM before any cached kernel that calls it is linked
