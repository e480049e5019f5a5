"""The "linear" part of one training step, product by product, with the alternatives (#34, lever 12).

    taskset -c 0 python benchmarks/linear_parts.py --threads 1 --json /tmp/linear-1t.json   # LSTM 2x128, N 50, T 50

Three training steps of the bench's char-rnn model (``workload.UnrollTrainer``, as ``step_breakdown.py``);
the arrays of the last step's calls are kept: every ``ops.linear_forward`` / ``linear_backward`` (the output
layer, layer 1's input projection and its gradients), the cell's ``_weight_grads`` (``∂L/∂W_h``, the
breakdown's "weight products") and the softmax cross-entropy. Each product is timed on those very arrays
(shapes, dtypes, strides, views), as the step makes it and in alternatives: ``out=``, a contiguous ``Wᵀ``
(a transpose flag to gemm), the transposed formulation (``yᵀ = Wᵀ xᵀ``, ``dWᵀ = δyᵀ x``, ``dxᵀ = W δyᵀ``),
widths padded with zero columns to a multiple of ``--pad`` (AVX-512's 16 lanes); the bias pass alone and
folded into the product (``affine`` below: y's rows set to b, one gemm with beta = 1; lever 12's candidate,
not kept), ``db`` as ``1ᵀ δy`` (gemv) and compiled; layer 1's two weight products as one (``[x | h_prev]ᵀ
δa``, the copy counted); the softmax on a (V, T·N) layout. Every alternative's result is checked against
the step's (relative 1e-4). Each case runs ``--rounds`` rounds (the cases in turn, the order rotated every
round) of about ``--round-ms`` each; the figure is the median over rounds of the time per call. A fresh
process per run; the thread count is set in the environment before numpy loads (``_threads.py``). The
cases themselves are ``_linear_cases.py``'s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
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
    p.add_argument("--pad", type=int, default=16, help="pad odd widths to a multiple of this")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--round-ms", type=float, default=20.0, help="calls per case and round: about this long")
    p.add_argument("--json", default=None, help="write the result here")
    return p.parse_args()


ARGS = _args()
set_threads(ARGS.threads, os.environ.get("UNROLL_SPLIT", "off"))

import numpy as np  # noqa: E402  (after the thread count is set)

from _linear_cases import Cases  # noqa: E402  (it loads numpy)


def capture(cell: str, H: int, N: int, T: int, layers: int):
    """Arrays of the last of 3 training steps' calls, in call order: [(kind, args)], and the trainer."""
    from unroll.bench import workload
    from unroll.nn import ops
    module = __import__(f"unroll.nn.{cell}", fromlist=["_weight_grads"])
    batches, V = workload.corpus_batches(3, N=N, T=T)
    trainer = workload.UnrollTrainer(cell, H, V, layers=layers)
    calls, real = [], {}
    hooks = ((ops, "linear_forward", "forward"), (ops, "linear_backward", "backward"),
             (ops, "softmax_cross_entropy", "loss"), (module, "_weight_grads", "weight"))
    for owner, attr, kind in hooks:
        real[kind] = getattr(owner, attr)
        setattr(owner, attr, lambda *a, _kind=kind, **k: (calls.append((_kind, tuple(
            x.copy() if _kind == "loss" and i == 0 else x for i, x in enumerate(a)), k)), real[_kind](*a, **k))[1])
    for x, y in batches:                                              # the loss overwrites its logits: copied
        calls.clear()
        trainer.step(x, y)
    for owner, attr, kind in hooks:
        setattr(owner, attr, real[kind])
    return list(calls), trainer


def compiled():
    """(affine, column_sums) compiled with numba, or None without numpy's BLAS callable from it."""
    from numba import njit
    from unroll.nn.kernels import blas
    if not blas.available():
        return None

    @njit(nogil=True, error_model="numpy")
    def affine(x, W, b, y):                      # y = x W + b: y's rows set to b, then gemm with beta = 1
        for r in range(y.shape[0]):
            row = y[r]
            for j in range(b.shape[0]):
                row[j] = b[j]
        blas.matmul(x, W, y, 1.0)

    @njit(nogil=True, error_model="numpy")
    def column_sums(a, out):                     # out = Σ_r a[r], rows in order (numpy's sum(axis=0))
        out[:] = 0.0
        for r in range(a.shape[0]):
            row = a[r]
            for j in range(out.shape[0]):
                out[j] += row[j]
    return affine, column_sums


def build(calls, linear, params) -> Cases:
    """The cases of every captured call; a linear layer is named by its weight's key in ``params``."""
    cases = Cases(linear, ARGS.pad)
    count = {}
    for kind, a, k in calls:
        n = count[kind] = count.get(kind, 0) + 1
        key = next((name for name, v in params.items() if v is a[2 if kind == "backward" else 1]), "?")
        if kind == "forward":
            cases.forward(f"{key} forward", a[0], a[1], a[2] if len(a) > 2 else k.get("b"))
        elif kind == "backward":
            cases.backward(f"{key} backward", a[0], a[1], a[2], a[3] if len(a) > 3 else k.get("need_dx", True))
        elif kind == "weight" and ARGS.cell == "gru":                 # dW_h = h_prevᵀ δhw: no stacking
            cases.weight(f"weight products, layer {ARGS.layers - n}", a[1], None, a[3])
        elif kind == "weight":
            cases.weight(f"weight products, layer {ARGS.layers - n}", a[0], a[1], a[2])
        elif kind == "loss":
            cases.loss(a[0], a[1], a[2] if len(a) > 2 else k.get("mask"))
    return cases


def check(cases: Cases) -> dict:
    """Each alternative's result against the part's first case (the step's way): max relative difference."""
    found = {}
    for part, entries in cases.parts.items():
        ref = None
        for name, fn, _, view in entries:
            if view is None:
                continue
            r = np.asarray(view(fn()), dtype=np.float64)
            if ref is None:
                ref = r.copy()
                continue
            found[f"{part} | {name}"] = float(np.abs(r - ref).max() / max(np.abs(ref).max(), 1e-30))
    return found


def measure(cases: Cases, rounds: int, round_ms: float) -> dict:
    flat = [(part, name, fn) for part, entries in cases.parts.items() for name, fn, _, _ in entries]
    reps = []
    for _, _, fn in flat:                                      # warm-up, and calls per round
        for _ in range(3):
            fn()
        t0, k = time.perf_counter(), 0
        while time.perf_counter() - t0 < 0.02:
            fn()
            k += 1
        reps.append(max(1, math.ceil(round_ms / 1e3 / ((time.perf_counter() - t0) / k))))
    wall, cpu = [[] for _ in flat], [[] for _ in flat]
    for r in range(rounds):
        order = list(range(len(flat)))
        order = order[r % len(order):] + order[:r % len(order)]
        for i in order:
            fn, n = flat[i][2], reps[i]
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                fn()
            wall[i].append((time.perf_counter() - w0) / n)
            cpu[i].append((time.process_time() - c0) / n)
    return {(part, name): {"wall_ms": 1e3 * float(np.median(wall[i])), "cpu_ms": 1e3 * float(np.median(cpu[i])),
                           "calls_per_round": reps[i]} for i, (part, name, _) in enumerate(flat)}


def main():
    from unroll.nn import kernels
    calls, trainer = capture(ARGS.cell, ARGS.hidden, ARGS.rows, ARGS.steps, ARGS.layers)
    linear = compiled() if kernels.layer_loop(ARGS.rows) else None
    cases = build(calls, linear, trainer.model.params)
    diffs = check(cases)
    times = measure(cases, ARGS.rounds, ARGS.round_ms)
    from unroll.bench import measure as bench_measure
    result = {"machine": bench_measure.machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "args": vars(ARGS), "layouts": cases.layouts, "parts": {},
              "matmul_gflops": bench_measure.matmul_rate(reps=9)}
    for part, entries in cases.parts.items():
        base = times[(part, entries[0][0])]["wall_ms"]
        result["parts"][part] = [{"name": name, **times[(part, name)],
                                  "gflops": fl / times[(part, name)]["wall_ms"] / 1e6 if fl else None,
                                  "vs_first": times[(part, name)]["wall_ms"] / base,
                                  "max_rel_diff": diffs.get(f"{part} | {name}")}
                                 for name, _, fl, _ in entries]
    _print(result)
    bad = {k: v for k, v in diffs.items() if not v < 1e-4}
    if bad:
        print(f"DISAGREE (relative > 1e-4): {bad}", file=sys.stderr)
    if ARGS.json:
        with open(ARGS.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        print(f"written: {ARGS.json}", file=sys.stderr)
    return 1 if bad else 0


def _print(result):
    m, a = result["machine"], result["args"]
    print(f"machine: {m['cpu']}, {m['cores']} cores; numpy {m['numpy']} ({m['blas']}, kernel {m['blas_kernel']})")
    print(f"{a['cell']} {a['layers']}x{a['hidden']}, batch {a['rows']}, sequence {a['steps']}, {a['threads']} "
          f"thread(s); wall ms per call, median of {a['rounds']} rounds (x: time over the part's first line)")
    print(f"numpy float32 matmul 2500x512 @ 512x2048: {result['matmul_gflops']:.0f} GFLOP/s")
    for part, rows in result["parts"].items():
        print(f"\n{part}")
        for r in rows:
            rate = f"{r['gflops']:6.1f} GFLOP/s" if r["gflops"] else " " * 14
            print(f"  {r['name']:<58} {r['wall_ms']:8.3f} ms  {rate}  x{r['vs_first']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
