"""Fused elementwise kernels for the cells' time loops (numba), and the switch that selects them.

Each cell's forward and backward keep their matrix products in BLAS (``h_{t-1} W_h`` and ``δ^{a_t} W_hᵀ``
per step, the input projection and the weight gradients once per sequence) and hand the elementwise part
of a step to one compiled loop that reads and writes every (n, j) once. The NumPy code in ``nn/rnn.py``,
``nn/lstm.py`` and ``nn/gru.py`` is the readable reference that docs/derivations.md quotes; both paths
produce the same caches, so a forward on one path can be followed by a backward on the other.

Switch: the environment variable ``UNROLL_KERNELS`` = ``numba`` (the default) | ``numba-step`` | ``numpy``,
read at every call, or ``use("numpy")`` / ``use("numba")`` / ``use(None)`` (back to the environment) from
code. ``numba`` runs each cell's whole time loop per layer in one compiled call per part of the batch
(``lstm_layer.py``, ``gru_layer.py``, ``rnn_layer.py``, with numpy's BLAS called from inside; the batch
split across threads is ``split.py``'s), ``numba-step`` the per-step loop (one ``np.matmul`` and one kernel
call per step, as before the whole-layer loops). When numba
cannot be imported the NumPy path runs, and a batch of one sequence always takes it (see ``fused``). Kernels are compiled on first use and cached on disk
(``@njit(cache=True)``): next to this file, or in the user cache folder when the package folder is read-only
(numba's own fallback; ``NUMBA_CACHE_DIR`` overrides both).
"""

from __future__ import annotations

import importlib
import os

from unroll.nn.kernels import memory

BACKENDS = ("numba", "numba-step", "numpy")
ACTIVATION_CODES = {"tanh": 0, "relu": 1, "sigmoid": 2, "identity": 3}   # the RNN activations the kernels know

MIN_ROWS = 2                 # smaller batches take the NumPy path (see fused)

_override: str | None = None
_numba_ok: bool | None = None
_announce = None             # callable(message) told when numba starts compiling (see on_compile)
_notice = None               # the same callback, for other notices (notify)
_listening = False

COMPILE_MESSAGE = ("compiling unroll's numba kernels for this model (first use only: later runs load them from "
                   "the cache) ...")


def use(backend: str | None) -> None:
    """Select the path from code: "numba", "numpy", or None to follow ``UNROLL_KERNELS`` again."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)} or None, got {backend!r}")
    global _override
    _override = backend


def backend() -> str:
    """The path in use now: ``use``'s choice, else ``UNROLL_KERNELS``, else "numba" (when importable)."""
    choice = _override or os.environ.get("UNROLL_KERNELS", "numba").strip().lower() or "numba"
    if choice not in BACKENDS:
        raise ValueError(f"UNROLL_KERNELS must be one of {', '.join(BACKENDS)}, got {choice!r}")
    return choice if choice != "numpy" and _have_numba() else "numpy"


def fused(rows: int, activation: str | None = None) -> bool:
    """True when the fused path should run a batch of ``rows`` sequences (and knows ``activation``).

    A single sequence (sampling's priming pass, N = 1) stays on the NumPy path: its elementwise work is tiny,
    and importing numba and loading the cached kernels would add ~0.5-1 s to ``unroll sample``'s start-up.
    """
    return (rows >= MIN_ROWS and backend() != "numpy"
            and (activation is None or activation in ACTIVATION_CODES))


def layer_loop(rows: int) -> bool:
    """True when the whole-layer loop should run (the "numba" path, and numpy's BLAS callable from numba)."""
    return fused(rows) and backend() == "numba" and load("blas").available()


def load(cell: str):
    """The kernel module of a cell ("rnn" | "lstm" | "gru"), imported (and numba with it) on first use; with
    a callback registered (``on_compile``), numba's compile events are listened to from then on. The first
    call also keeps freed memory in the process (``memory.keep_freed``, ``UNROLL_MALLOC``)."""
    module = importlib.import_module(f"unroll.nn.kernels.{cell}")
    memory.keep_freed()                     # freed arrays stay mapped: no page faults per step (memory.py)
    if _announce is not None:
        _listen()
    return module


def on_compile(callback) -> None:
    """Register ``callback(message)``, told ``COMPILE_MESSAGE`` once, when numba starts to compile a kernel
    (a cold cache: a kernel loaded from numba's disk cache does not compile); None unregisters.
    ``unroll train``'s progress line registers its ``say``."""
    global _announce, _notice
    _announce = _notice = callback


def notify(message: str) -> None:
    """Tell the callback ``on_compile`` registered (``unroll train``'s progress line) a one-line notice."""
    if _notice is not None:
        _notice(message)


def _listen() -> None:
    """Listen to numba's "numba:compile" event (sent for a real compile, not for a cache load), once."""
    global _listening
    if _listening:
        return
    from numba.core import event

    class _CompileListener(event.Listener):
        def on_start(self, _event):
            global _announce
            say, _announce = _announce, None
            if say is not None:
                say(COMPILE_MESSAGE)

        def on_end(self, _event):
            pass
    event.register("numba:compile", _CompileListener())
    _listening = True


def _have_numba() -> bool:
    global _numba_ok
    if _numba_ok is None:
        try:
            import numba  # noqa: F401
            _numba_ok = True
        except ImportError:
            _numba_ok = False
    return _numba_ok
