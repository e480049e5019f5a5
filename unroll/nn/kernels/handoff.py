"""Handing a part of the work to another core without a sleep and a wake-up (#34, lever 16).

Under "own" a training step hands work to the second core 15-20 times (each layer loop's parts, each split
product, the loss, Adam). Through ``concurrent.futures`` every hand-over is a condition variable on each
side: the worker sleeps in the kernel until the main thread posts, the main thread until the worker is
done, and waking a sleeping thread costs tens of microseconds (more in a virtual machine). Measured on the
Intel Xeon (2 cores, a firecracker VM): ``split.run`` with two empty parts took **90 us**, about 1.4 ms of
a 22 ms step at 15 hand-overs.

Here the two sides watch counters instead, the way OpenMP runtimes keep their threads awake between
parallel regions: each worker has a slot ``posted`` (how many jobs the main thread gave it) and ``done`` (how
many it finished), int64s on cache lines of their own. The main thread writes the job (a Python tuple),
then ``posted`` with a release store; the worker, spinning on ``posted`` with acquire loads inside a nogil
compiled function (x86's PAUSE between loads), sees it, takes the GIL only to run the job, and publishes
``done``; the main thread, after its own part, spins on ``done`` the same way. A worker that has had no job
for ``IDLE_S`` stops spinning and sleeps on an Event (so an idle process burns no core), which the main
thread sets when it sees the worker's ``asleep`` flag after posting; both sides use sequentially consistent
operations on ``posted`` and ``asleep``, so one of them always sees the other's write.

The pool spins only where "own" holds numpy's BLAS at one thread (``split.run`` asks), so no OpenBLAS thread
competes with the spinning worker for the second core.

The atomics are LLVM's (``load atomic``, ``store atomic``, ``atomicrmw``), emitted through
``numba.extending.intrinsic`` so the functions stay cacheable (the same as the hidden-unit split's barrier
of lever 10, removed with it).
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from unroll.nn.kernels.mathfn import OPTIONS

LINE = 8                                  # int64s per cache line: each slot on its own line
POSTED, DONE, ASLEEP = 0, 1, 2            # a worker's slots, at (3 w + slot) * LINE
SPINS = 20000                             # spins (a load and a PAUSE) per compiled wait before Python looks at the clock
IDLE_S = 0.005                            # a worker with no job for this long sleeps instead of spinning
X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")

_yield = types.ExternalFunction("unroll_sched_yield", types.int32())


def _register() -> bool:
    import llvmlite.binding as llvm
    try:
        fn = ctypes.windll.kernel32.SwitchToThread if sys.platform == "win32" else ctypes.CDLL(None).sched_yield
    except (OSError, AttributeError):
        return False
    llvm.add_symbol("unroll_sched_yield", ctypes.cast(fn, ctypes.c_void_p).value)
    return True


AVAILABLE = _register()                   # before any cached kernel below is linked


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
def exchange(typingctx, a, i, v):
    """a[i] = v, sequentially consistent (an atomic exchange); returns the value before."""
    def codegen(context, builder, sig, args):
        value = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("xchg", _pointer(context, builder, sig, args), value, "seq_cst")
    return types.int64(a, i, v), codegen


@intrinsic
def pause(typingctx):
    """x86's PAUSE between two loads of a spin; nothing elsewhere."""
    def codegen(context, builder, sig, args):
        if X86:
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()
    return types.none(), codegen


@njit(**OPTIONS)
def wait_for(sig, slot, value, spins, yielding):
    """Spin until sig[slot] >= value (True) or ``spins`` loads have passed (False); ``yielding``: give the
    core away between loads instead of PAUSE (a waiter that must not time out)."""
    for _ in range(spins):
        if load_acquire(sig, slot) >= value:
            return True
        if yielding:
            _yield()
        else:
            pause()
    return load_acquire(sig, slot) >= value


HOLDING = {**OPTIONS, "nogil": False}    # tiny calls that keep the GIL: no release and retake to contend for


@njit(**HOLDING)
def publish(sig, slot, value):
    """sig[slot] = value, sequentially consistent (what was written before it is visible to a reader that
    sees it)."""
    exchange(sig, slot, value)


@njit(**HOLDING)
def read(sig, slot):
    """sig[slot], with an acquire load."""
    return load_acquire(sig, slot)


class SpinPool:
    """k - 1 persistent worker threads that spin between jobs (module docstring). ``run(jobs)`` runs
    jobs[0] here and jobs[w] on worker w, each a callable of no arguments, and returns their results in
    order (re-raising the first exception after every job has finished)."""

    def __init__(self, workers: int, on_start=None):
        self.workers = workers
        self.sig = np.zeros(3 * LINE * (workers + 1), np.int64)
        self.jobs: list = [None] * (workers + 1)
        self.results: list = [None] * (workers + 1)
        self.events = [threading.Event() for _ in range(workers + 1)]
        self.posted = [0] * (workers + 1)
        self._on_start = on_start
        self.threads = [threading.Thread(target=self._work, args=(w,), daemon=True, name=f"unroll-spin-{w}")
                        for w in range(1, workers + 1)]
        for t in self.threads:
            t.start()

    def run(self, jobs: list) -> list:
        for w in range(1, len(jobs)):
            self.jobs[w] = jobs[w]
            self.posted[w] += 1
            publish(self.sig, self._slot(w, POSTED), self.posted[w])
            if read(self.sig, self._slot(w, ASLEEP)):
                self.events[w].set()
        error = None
        try:
            first = jobs[0]()
        except BaseException as err:   # noqa: BLE001 - re-raised below, after the workers finished
            error, first = err, None
        out = [first]
        for w in range(1, len(jobs)):
            while not wait_for(self.sig, self._slot(w, DONE), self.posted[w], SPINS, False):
                wait_for(self.sig, self._slot(w, DONE), self.posted[w], 64, True)
            ok, value = self.results[w]
            self.results[w] = self.jobs[w] = None
            if not ok and error is None:
                error = value
            out.append(value if ok else None)
        if error is not None:
            raise error
        return out

    def _slot(self, w: int, slot: int) -> int:
        return (3 * w + slot) * LINE

    def _work(self, w: int) -> None:
        if self._on_start is not None:
            self._on_start()
        seen, last = 0, time.perf_counter()
        while True:
            if not wait_for(self.sig, self._slot(w, POSTED), seen + 1, SPINS, False):
                if time.perf_counter() - last < IDLE_S:
                    continue
                publish(self.sig, self._slot(w, ASLEEP), 1)     # then look once more: no post is missed
                while not wait_for(self.sig, self._slot(w, POSTED), seen + 1, 1, False):
                    self.events[w].wait(0.05)
                    self.events[w].clear()
                publish(self.sig, self._slot(w, ASLEEP), 0)
            seen += 1
            try:
                self.results[w] = (True, self.jobs[w]())
            except BaseException as err:   # noqa: BLE001 - handed to the main thread
                self.results[w] = (False, err)
            publish(self.sig, self._slot(w, DONE), seen)
            last = time.perf_counter()


def forget_after_fork(reset) -> None:
    """Run ``reset`` in a forked child (the pool's threads do not exist there)."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=reset)
