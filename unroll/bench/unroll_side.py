"""The unroll side of a training benchmark, and the matrix-multiply rate, each in a process of its own.

``unroll bench`` starts ``python -m unroll.bench.unroll_side SPEC`` once per round, with the thread count set
once in the environment before numpy loads (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS``) and the strategy in ``UNROLL_KERNELS`` / ``UNROLL_SPLIT`` (``rounds.STRATEGY_ENV``), as a
user's ``unroll train`` runs: torch is never imported here. SPEC is a JSON object, either

- cell, hidden, layers, lr, clip, batches (.npz of x, y (K, T, N) and V), warmup_s, measure_s: training
  steps of ``workload.UnrollTrainer`` (the steps of ``torch_side.timed``), or
- matmul (repetitions): numpy's float32 GFLOP/s on 2500x512 @ 512x2048 at this process's thread count.

Prints one JSON line: tokens/s (or gflops), numpy's BLAS kernel and thread count (threadpoolctl), and
whether torch was loaded.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main(spec: dict) -> dict:
    from unroll.bench.measure import _blas_kernel, threads_now
    if "matmul" in spec:
        from unroll.bench.measure import _matmul_rate
        result = {"gflops": _matmul_rate(int(spec["matmul"]))}
    else:
        from unroll.bench.torch_side import timed
        from unroll.bench.workload import UnrollTrainer
        data = np.load(spec["batches"], allow_pickle=False)
        batches = list(zip(data["x"], data["y"]))
        trainer = UnrollTrainer(spec["cell"], spec["hidden"], int(data["V"]), layers=spec["layers"], lr=spec["lr"],
                                clip=spec["clip"])
        result = timed(trainer.step, batches, spec["warmup_s"], spec["measure_s"])
        T, N = batches[0][0].shape
        result["tokens_per_s"] = result["steps"] * T * N / result["seconds"]
        from unroll.nn.kernels import split
        result["strategy"] = ("data" if trainer.model.step_parts(N)                  # what auto ran (calibrated)
                              else split.stack_strategy(spec["cell"], spec["hidden"], N))
    result.update(blas_kernel=_blas_kernel(), threads=threads_now(),
                  foreign=["torch"] if "torch" in sys.modules else [])
    return result


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
