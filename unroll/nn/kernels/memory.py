"""Freed memory kept in the process (glibc's malloc), so that a training step does not fault its arrays in again.

A training step allocates and frees the same large arrays at every step: each layer's cache (the gates
(T, N, 4H), the states, tanh(c)), the output layer's logits and their gradient, the products' results.
glibc's malloc serves a request above its mmap threshold (128 KiB at start, then the largest chunk freed so
far, up to 32 MiB) with a fresh ``mmap`` and unmaps it on ``free``, and trims the top of its heap back to
the system beyond 128 KiB free. Either way the next step writes to pages the kernel must map and zero again,
one minor page fault per 4 KiB. ``benchmarks/step_breakdown.py`` counted about 2,800 such faults in every
step of the LSTM 2x128 char-rnn setting (1,370 in the two forward loops), and with them the loops' elementwise
part took almost twice its time (docs/performance.md, lever 11).

``keep_freed()`` raises both thresholds (``mallopt``: ``M_MMAP_THRESHOLD`` to glibc's ceiling of 32 MiB,
``M_TRIM_THRESHOLD`` to 512 MiB), so freed arrays stay in the heap and the next step reuses pages already
mapped. It changes when memory goes back to the system, nothing that is computed; the process's peak is its
largest working set either way. Called once, by ``kernels.load``, when a fused kernel first runs (sampling's
batch of one never loads them). ``UNROLL_MALLOC=system`` leaves glibc's defaults; on a C library without
``mallopt`` (musl, macOS, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3       # glibc's malloc.h
MMAP_THRESHOLD = 32 * 1024 * 1024                 # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: mallopt refuses more
TRIM_THRESHOLD = 512 * 1024 * 1024
CHOICES = ("keep", "system")

_done: str | None = None


def choice() -> str:
    """``UNROLL_MALLOC``: "keep" (the default) or "system"."""
    value = os.environ.get("UNROLL_MALLOC", "keep").strip().lower() or "keep"
    if value not in CHOICES:
        raise ValueError(f"UNROLL_MALLOC must be one of {', '.join(CHOICES)}, got {value!r}")
    return value


def keep_freed() -> str:
    """Set the thresholds once per process (see the module's docstring); returns what was done:
    "kept" (both set), "system" (UNROLL_MALLOC=system) or "unsupported" (no glibc mallopt)."""
    global _done
    if _done is None:
        _done = "system" if choice() == "system" else _mallopt()
    return _done


def _mallopt() -> str:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return "unsupported"
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    return "kept" if ok else "unsupported"
