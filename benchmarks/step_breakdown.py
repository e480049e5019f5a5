"""Where one training step's time goes, part by part (#34): unroll's char-rnn step (the bench's
``UnrollTrainer``: folded embedding, recurrent layers, output layer, softmax cross-entropy, clipping, Adam).

    python benchmarks/step_breakdown.py                            # LSTM 2x128, batch 50, sequence 50, 1 thread
    python benchmarks/step_breakdown.py --threads 2                # 2 threads, the strategy auto chooses
    ../shared/tools/quiet -- python benchmarks/step_breakdown.py --threads 1 --json benchmarks/results/NAME.json

Each part's exclusive time (process CPU time and wall time; a part nested in another is taken out of its
parent) per step, median over ``--iters`` steps after ``--warmup`` steps:

- ``loop forward`` / ``loop backward``: the cell's whole-layer time loops (``kernels/<cell>_layer.py``), all
  layers; split below into ``per-step products`` (the same T products per layer, ``h_{t-1} W_h`` forward and
  ``δ^{a_t} W_hᵀ`` backward, for one part's rows, timed alone from Python: MKL's packed product where the
  loops use it, lever 15, else numpy's; with the call overhead) and ``elementwise`` (the rest of the loop:
  loop minus products);
- ``weight products``: ``∂L/∂W_h = Σ_t h_{t-1}ᵀ δ^{a_t}``, one product per layer after the loop;
- ``linear``: every ``ops.linear_forward`` / ``linear_backward`` (the output layer forward and backward, the
  upper layers' input projection and its ``dx``, ``∂L/∂W_x``), ``loss``: softmax cross-entropy, ``clip``,
  ``adam``, and ``other`` (the step minus all of these: the embedding fold and its gradient, Python).

Each part also reports its median minor page faults per step: first writes to pages the allocator just
mapped, one per 4 KiB (``kernels/memory.py``; ``UNROLL_MALLOC=system`` shows them).

Under ``data`` (lever 17) each thread runs its rows through the whole step at once, so the step's parts
overlap across threads: only the step, ``clip``, ``adam`` and ``other`` (the rest) are timed.

Meant for one thread: at two, under ``off``, ``per-step products`` are numpy's at its two BLAS threads, as
the loop makes them; a split loop (``batch``, ``own``) runs one part's products per thread, so the
products timed are one part's, serially, and ``elementwise`` (the loop's wall time minus them) is not what
one thread spends (under ``own``, ``linear`` and ``weight products`` are the products split across
unroll's own threads; lever 13).

The thread count is set in the environment before numpy loads (``_threads.py``); ``--strategy`` sets
UNROLL_SPLIT (``auto`` by default; the strategy it ran is ``strategy_ran`` in the JSON; a first use of the
size calibrates during the warm-up steps).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from _threads import set_threads


def _args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", default="lstm", choices=("lstm", "gru", "rnn"))
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--rows", type=int, default=50, help="batch N")
    p.add_argument("--steps", type=int, default=50, help="sequence length T")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--strategy", default="auto",
                   help="UNROLL_SPLIT for the run (auto, the default: what a user gets; off, batch, own, data)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--json", default=None, help="write the result here")
    return p.parse_args()


ARGS = _args()
set_threads(ARGS.threads, ARGS.strategy)

import numpy as np  # noqa: E402  (after the thread count is set)


def _faults():
    """Minor page faults of this process so far (first touches of freshly mapped memory)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class Timer:
    """Exclusive CPU and wall time (and minor page faults) per part: a part's children are taken out."""

    def __init__(self):
        self.cpu, self.wall, self.faults, self.stack = {}, {}, {}, []

    def wrap(self, owner, attr, part):
        real = getattr(owner, attr)

        def timed(*a, **k):
            self.stack.append([0.0, 0.0, 0])
            c0, w0, f0 = time.process_time(), time.perf_counter(), _faults()
            try:
                return real(*a, **k)
            finally:
                dc, dw, df = time.process_time() - c0, time.perf_counter() - w0, _faults() - f0
                child_c, child_w, child_f = self.stack.pop()
                self.cpu[part] = self.cpu.get(part, 0.0) + dc - child_c
                self.wall[part] = self.wall.get(part, 0.0) + dw - child_w
                self.faults[part] = self.faults.get(part, 0) + df - child_f
                if self.stack:
                    self.stack[-1][0] += dc
                    self.stack[-1][1] += dw
                    self.stack[-1][2] += df
        setattr(owner, attr, timed)

    def reset(self):
        self.cpu, self.wall, self.faults = {}, {}, {}


def products(cell, H, N, T, layers, dtype=np.float32):
    """CPU and wall seconds of the loops' per-step products alone, as one part of the loop makes them (its
    rows: all N in one part, N/k in each of k): T forward and T backward per layer, by MKL with W_h packed
    once per layer (the packing counted) where the loops use it (``layer_common.step_weights``), else by
    numpy's BLAS (at its thread count)."""
    from unroll.nn.kernels import layer_common, mkl, split
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    ranges = split.parts(N, H, cell)
    packed = layer_common.one_thread(ranges) and mkl.available()
    rows = ranges[0][1] - ranges[0][0]
    rng = np.random.default_rng(0)
    h, W, a = rng.standard_normal((rows, H), dtype), rng.standard_normal((H, G * H), dtype), np.empty((rows, G * H), dtype)
    WT, dh = np.ascontiguousarray(W.T), np.empty((rows, H), dtype)
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(layers):
        pk = mkl.packed(W, rows, False, layer_common.FORWARD) if packed else None
        for _ in range(T):
            mkl.compute(h, pk, a) if packed else np.matmul(h, W, out=a)
    c1, w1 = time.process_time(), time.perf_counter()
    for _ in range(layers):
        pk = mkl.packed(W, rows, True, layer_common.BACKWARD) if packed else None
        for _ in range(T):
            mkl.compute(a, pk, dh) if packed else np.matmul(a, WT, out=dh)
    c2, w2 = time.process_time(), time.perf_counter()
    return (c1 - c0, w1 - w0), (c2 - c1, w2 - w1)


def main():
    from unroll.bench import measure, workload
    from unroll.nn import lstm, gru, rnn, ops
    from unroll.nn.kernels import blas, split
    cell, H, N, T = ARGS.cell, ARGS.hidden, ARGS.rows, ARGS.steps
    batches, V = workload.corpus_batches(ARGS.warmup + ARGS.iters, N=N, T=T)
    trainer = workload.UnrollTrainer(cell, H, V, layers=ARGS.layers)
    timer = Timer()
    step_parts = trainer.model.step_parts(N)         # "data": the whole step on threads, its parts overlap
    if not step_parts:
        layer = __import__(f"unroll.nn.kernels.{cell}_layer", fromlist=["forward"])
        timer.wrap(layer, "forward", "loop forward")
        timer.wrap(layer, "backward", "loop backward")
        timer.wrap({"lstm": lstm, "gru": gru, "rnn": rnn}[cell], "_weight_grads", "weight products")
        timer.wrap(ops, "linear_forward", "linear")
        timer.wrap(ops, "linear_backward", "linear")
        timer.wrap(ops, "softmax_cross_entropy", "loss")
    timer.wrap(trainer, "clip", "clip")
    timer.wrap(trainer.adam, "step", "adam")
    steps_cpu, steps_wall, parts_cpu, parts_wall, parts_faults = [], [], [], [], []
    for i, (x, y) in enumerate(batches):
        timer.reset()
        c0, w0, f0 = time.process_time(), time.perf_counter(), _faults()
        trainer.step(x, y)
        dc, dw, df = time.process_time() - c0, time.perf_counter() - w0, _faults() - f0
        if i >= ARGS.warmup:
            steps_cpu.append(dc)
            steps_wall.append(dw)
            parts_cpu.append(dict(timer.cpu, other=dc - sum(timer.cpu.values())))
            parts_wall.append(dict(timer.wall, other=dw - sum(timer.wall.values())))
            parts_faults.append(dict(timer.faults, other=df - sum(timer.faults.values())))
    fwd, bwd = zip(*[products(cell, H, N, T, ARGS.layers) for _ in range(ARGS.iters)])
    result = {"machine": measure.machine(), "date": time.strftime("%Y-%m-%d"), "args": vars(ARGS),
              "strategy_ran": "data" if step_parts else split.stack_strategy(cell, H, N),
              "loop_parts": len(step_parts or split.parts(N, H, cell)),
              "blas_threads_now": blas.threads(), "step": _median_pair(steps_cpu, steps_wall),
              "parts": {}}
    for part in parts_cpu[0]:
        result["parts"][part] = _median_pair([p.get(part, 0.0) for p in parts_cpu],
                                             [p.get(part, 0.0) for p in parts_wall])
        result["parts"][part]["faults"] = float(np.median([p.get(part, 0) for p in parts_faults]))
    loops = () if step_parts else (("forward", "loop forward", fwd), ("backward", "loop backward", bwd))
    for name, loop, prods in loops:
        result["parts"][f"  per-step products {name}"] = _median_pair([c for c, _ in prods], [w for _, w in prods])
        result["parts"][f"  elementwise {name}"] = {k: result["parts"][loop][k] -
                                                   result["parts"][f"  per-step products {name}"][k]
                                                   for k in ("cpu_ms", "wall_ms")}
    _print(result)
    if ARGS.json:
        with open(ARGS.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        print(f"written: {ARGS.json}", file=sys.stderr)


def _median_pair(cpu, wall):
    return {"cpu_ms": 1e3 * float(np.median(cpu)), "wall_ms": 1e3 * float(np.median(wall))}


def _print(result):
    m, a, step = result["machine"], result["args"], result["step"]
    print(f"machine: {m['cpu']}, {m['cores']} cores; numpy {m['numpy']} ({m['blas']}, kernel {m['blas_kernel']})")
    print(f"{a['cell']} {a['layers']}x{a['hidden']}, batch {a['rows']}, sequence {a['steps']}, {a['threads']} "
          f"thread(s), strategy {a['strategy']} (ran {result['strategy_ran']}: {result['loop_parts']} loop part(s), "
          f"numpy's BLAS at {result['blas_threads_now']} thread(s) after the run): step {step['cpu_ms']:.2f} ms CPU, "
          f"{step['wall_ms']:.2f} ms wall (medians; parts below are medians too, so they need not add up)")
    for part, t in result["parts"].items():
        print(f"  {part:<34} {t['cpu_ms']:8.2f} ms CPU {100 * t['cpu_ms'] / step['cpu_ms']:5.1f}%   "
              f"{t['wall_ms']:8.2f} ms wall" + (f"  {t['faults']:6.0f} page faults" if "faults" in t else ""))


if __name__ == "__main__":
    main()
