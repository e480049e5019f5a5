"""The barrier and the atomics that the hidden-unit split waits on (unroll/nn/kernels/sync.py)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numba import njit

from unroll.nn.kernels import sync


@njit(nogil=True)
def _rounds(s, data, k, K, steps):
    """Each step thread k writes data[t + 1, k] from the whole row t, then waits: every row ends equal."""
    for t in range(steps):
        total = 0
        for q in range(K):
            total += data[t, q]
        data[t + 1, k] = total % 1000003 + 1
        if not sync.barrier(s, t, K):
            return False
    return True


@pytest.mark.parametrize("K", [2, 3])
def test_the_barrier_holds_every_thread_at_every_step(K):
    steps = 3000
    s, data, results = sync.new(), np.zeros((steps + 1, K), np.int64), [None] * K

    def part(k):
        results[k] = _rounds(s, data, k, K, steps)
    threads = [threading.Thread(target=part, args=(k,)) for k in range(1, K)]
    for t in threads:
        t.start()
    part(0)
    for t in threads:
        t.join(timeout=60)
    assert results == [True] * K and s[sync.COUNT] == steps * K
    assert (data == data[:, :1]).all() and len(set(data[:, 0].tolist())) > steps // 2


def test_an_aborted_call_releases_the_waiting_threads():
    s, results = sync.new(), []
    waiter = threading.Thread(target=lambda: results.append(_rounds(s, np.zeros((2, 2), np.int64), 0, 2, 1)))
    waiter.start()                                              # thread 1 never comes
    sync.abort(s)
    waiter.join(timeout=60)
    assert results == [False]


def test_atomics_add_and_read_and_the_spin_pauses_on_x86():
    a = np.zeros(4, np.int64)

    @njit
    def add(a):
        before = sync.fetch_add(a, 2, 5)
        sync.pause()
        return before, sync.fetch_add(a, 2, -2), sync.load_acquire(a, 2)
    assert add(a) == (0, 5, 3) and a.tolist() == [0, 0, 3, 0]
    assembly = add.inspect_asm(add.signatures[0])
    assert ("\tpause" in assembly) == sync.X86 and (not sync.X86 or "lock" in assembly)   # lock xadd
