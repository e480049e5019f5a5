"""A benchmark process's thread count and strategy, set in its environment before numpy loads.

    from _threads import set_threads      # first, before anything imports numpy
    set_threads(ARGS.threads, ARGS.strategy)

OpenBLAS, OpenMP and MKL read their thread counts once, when numpy (or torch) loads them, so a benchmark
that times one thread count per process sets them here first (the variables are ``unroll.bench.rounds``'s
``THREAD_ENV``, which cannot be imported before numpy: it loads numpy). ``strategy`` is unroll's
``UNROLL_SPLIT``, read at every call (None: left as the environment has it). Imported as a sibling by the
scripts in this folder (``python benchmarks/NAME.py`` puts the folder first on ``sys.path``).
"""

from __future__ import annotations

import os
import sys

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def set_threads(threads: int, strategy: str | None = None) -> None:
    """Every BLAS and OpenMP pool of this process at ``threads``, and ``UNROLL_SPLIT`` at ``strategy``."""
    if "numpy" in sys.modules:
        raise RuntimeError("set_threads must run before numpy is imported (its BLAS reads the count once)")
    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    if strategy is not None:
        os.environ["UNROLL_SPLIT"] = strategy
