"""Forward and backward of one recurrent stack under each time-loop strategy, in one process (#34).

    python benchmarks/loop_strategies.py 128 2 off,batch,off,batch
    OPENBLAS_THREAD_TIMEOUT=4 python benchmarks/loop_strategies.py 128 2 off,batch,off,batch
    python benchmarks/loop_strategies.py 128 2 off,own,off,own             # lever 13: no OpenBLAS threads at all

Arguments: H, layers, the strategies in the order run (UNROLL_SPLIT values; repeat them to alternate).
An LSTM stack of ``layers`` layers, H units, batch 50, sequence 50, float32, numpy's BLAS at its own thread
count; prints the median forward and backward milliseconds of 5 calls after one warm-up per strategy.
OPENBLAS_THREAD_TIMEOUT (read by OpenBLAS when numpy loads; 2^n cycles, 4 <= n <= 30, default 28) is how
long OpenBLAS's idle worker threads spin after a multi-threaded call before they sleep: docs/performance.md
(lever 10) uses it to show what that spinning costs a loop split across threads of its own.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from unroll.nn.kernels import split
from unroll.nn.stack import Stack


def main(H: int, layers: int, strategies: list[str], N: int = 50, T: int = 50) -> None:
    rng = np.random.default_rng(0)
    stack = Stack("lstm", H, H, layers)
    params = stack.init(rng, np.float32)
    x = rng.standard_normal((T, N, H), dtype=np.float32)
    dhs = rng.standard_normal((T, N, H), dtype=np.float32)
    for strategy in strategies:
        split.use(strategy)
        forward, backward = [], []
        for _ in range(6):
            t0 = time.perf_counter()
            out = stack.forward(x, params)
            t1 = time.perf_counter()
            stack.backward(dhs, out[2])
            forward.append(t1 - t0)
            backward.append(time.perf_counter() - t1)
        print(f"{strategy} fwd {np.median(forward[1:]) * 1e3:.2f} ms bwd {np.median(backward[1:]) * 1e3:.2f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(","))
