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
process per run; the thread count is set in the environment before numpy loads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time


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
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = str(ARGS.threads)
os.environ.setdefault("UNROLL_SPLIT", "off")

import numpy as np  # noqa: E402  (after the thread count is set)


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


def _cross_entropy_transposed(lT, targets):
    """ops.softmax_cross_entropy (in place, no mask) on logits laid out (V, M): returns the gradient (V, M)."""
    lT -= lT.max(axis=0)
    np.exp(lT, out=lT)
    lT /= lT.sum(axis=0)
    cols = np.arange(lT.shape[1])
    _ = -np.log(np.maximum(lT[targets, cols], np.finfo(lT.dtype).tiny)).mean()
    lT[targets, cols] -= 1.0
    lT *= lT.dtype.type(1.0 / lT.shape[1])
    return lT


def layout(a) -> str:
    if not isinstance(a, np.ndarray):
        return type(a).__name__
    order = "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else "strided"
    return f"{a.dtype}{list(a.shape)} {order}{' view' if a.base is not None else ''} strides {list(a.strides)}"


def padded(a, multiple: int):
    """a (M, K) with zero columns appended up to a multiple of ``multiple``; None if K is one already."""
    return None if a.shape[1] % multiple == 0 else np.pad(a, ((0, 0), (0, -a.shape[1] % multiple)))


class Cases:
    """The timed cases: part -> [(name, fn, flops, comparable(result) or None)]; the first is the step's way."""

    def __init__(self, linear):
        self.parts, self.linear, self.layouts = {}, linear, {}

    def add(self, part, name, fn, flops, view=lambda r: r):
        self.parts.setdefault(part, []).append((name, fn, flops, view))

    def forward(self, label, x, W, b):
        from unroll.nn import ops
        x2, K = x.reshape(-1, x.shape[-1]), W.shape[1]
        M, D = x2.shape
        fl = 2.0 * M * D * K
        y, yT, WTc = np.empty((M, K), x.dtype), np.empty((K, M), x.dtype), np.ascontiguousarray(W.T)
        self.layouts[f"{label} forward"] = {"x": layout(x), "W": layout(W), "b": layout(b)}
        part = f"{label}: y = x W + b  ({M}x{D} @ {D}x{K})"
        self.add(part, "as the step: ops.linear_forward", lambda: ops.linear_forward(x, W, b), fl,
                 lambda r: r.reshape(M, K))
        self.add(part, "product only, out=", lambda: np.matmul(x2, W, out=y), fl, None)
        self.add(part, "bias pass alone, y += b", lambda: np.add(y, b, out=y), 0.0, None)
        self.add(part, "product + bias, out=", lambda: np.add(np.matmul(x2, W, out=y), b, out=y), fl)
        self.add(part, "product, W as contiguous Wᵀ (trans flag)", lambda: np.matmul(x2, WTc.T, out=y), fl, None)
        self.add(part, "transposed: yᵀ = Wᵀ x2ᵀ (no bias)", lambda: np.matmul(WTc, x2.T, out=yT), fl, None)
        Wp = padded(W, ARGS.pad)
        if Wp is not None:
            yp = np.empty((M, Wp.shape[1]), x.dtype)
            self.add(part, f"product, W padded to {Wp.shape[1]} columns", lambda: np.matmul(x2, Wp, out=yp),
                     2.0 * M * D * Wp.shape[1], None)
        if self.linear is not None and x2.flags.c_contiguous and W.flags.c_contiguous:
            self.add(part, "bias folded, affine (beta = 1; lever 12, not kept)",
                     lambda: (self.linear[0](x2, W, b, y), y)[1], fl)

    def backward(self, label, dy, x, W, need_dx=True):
        from unroll.nn import ops
        dy2, x2 = dy.reshape(-1, dy.shape[-1]), x.reshape(-1, x.shape[-1])
        M, K = dy2.shape
        D = x2.shape[1]
        fl = 2.0 * M * D * K
        self.layouts[f"{label} backward"] = {"dy": layout(dy), "x": layout(x), "W": layout(W)}
        self.add(f"{label}: as the step", "ops.linear_backward (dW, db, dx)",
                 lambda: ops.linear_backward(dy, x, W, need_dx), fl * (2 if need_dx else 1), None)
        part = f"{label}: dW = xᵀ δy  ({D}x{M} @ {M}x{K})"
        dW, dWT = np.empty((D, K), dy.dtype), np.empty((K, D), dy.dtype)
        self.add(part, "as the step: x2.T @ dy2", lambda: x2.T @ dy2, fl)
        self.add(part, "out=", lambda: np.matmul(x2.T, dy2, out=dW), fl)
        self.add(part, "transposed: dWᵀ = δyᵀ x2", lambda: np.matmul(dy2.T, x2, out=dWT), fl, lambda r: r.T)
        dyp = padded(dy2, ARGS.pad)
        if dyp is not None:
            self.add(part, f"δy padded to {dyp.shape[1]} columns", lambda: x2.T @ dyp, 2.0 * M * D * dyp.shape[1],
                     lambda r: r[:, :K])
        part = f"{label}: db = Σ rows δy  ({M}x{K})"
        db, ones = np.empty(K, dy.dtype), np.ones(M, dy.dtype)
        self.add(part, "as the step: dy2.sum(axis=0)", lambda: dy2.sum(axis=0), 0.0)
        self.add(part, "1ᵀ δy (gemv), out=", lambda: np.matmul(ones, dy2, out=db), 0.0)
        if self.linear is not None and dy2.flags.c_contiguous:
            self.add(part, "column_sums (compiled)", lambda: (self.linear[1](dy2, db), db)[1], 0.0)
        if not need_dx:
            return
        part = f"{label}: dx = δy Wᵀ  ({M}x{K} @ {K}x{D})"
        dx, dxT, WTc = np.empty((M, D), dy.dtype), np.empty((D, M), dy.dtype), np.ascontiguousarray(W.T)
        dyTc = np.ascontiguousarray(dy2.T)
        self.add(part, "as the step: dy2 @ W.T", lambda: dy2 @ W.T, fl)
        self.add(part, "out=", lambda: np.matmul(dy2, W.T, out=dx), fl)
        self.add(part, "Wᵀ contiguous", lambda: np.matmul(dy2, WTc, out=dx), fl)
        self.add(part, "transposed: dxᵀ = W δyᵀ (δyᵀ contiguous)", lambda: np.matmul(W, dyTc, out=dxT), fl,
                 lambda r: r.T)
        Wp = padded(W, ARGS.pad)
        if dyp is not None and Wp is not None:
            self.add(part, f"inner dimension padded to {Wp.shape[1]}", lambda: np.matmul(dyp, Wp.T, out=dx),
                     2.0 * M * D * Wp.shape[1])

    def weight(self, label, da, x, h_prev):
        G, H = da.shape[-1], h_prev.shape[-1]
        da2, hp2 = da.reshape(-1, G), h_prev.reshape(-1, H)
        M = da2.shape[0]
        fl = 2.0 * M * H * G
        self.layouts[f"{label} weight"] = {"da": layout(da), "h_prev": layout(h_prev)}
        part = f"{label}: dW_h = h_prevᵀ δa  ({H}x{M} @ {M}x{G})"
        out, outT = np.empty((H, G), da.dtype), np.empty((G, H), da.dtype)
        self.add(part, "as the step: hp2.T @ da2", lambda: hp2.T @ da2, fl)
        self.add(part, "out=", lambda: np.matmul(hp2.T, da2, out=out), fl)
        self.add(part, "transposed: dW_hᵀ = δaᵀ h_prev", lambda: np.matmul(da2.T, hp2, out=outT), fl, lambda r: r.T)
        if isinstance(x, np.ndarray):
            x2 = x.reshape(-1, x.shape[-1])
            D = x2.shape[1]
            both = np.empty((M, D + H), da.dtype)
            out2 = np.empty((D + H, G), da.dtype)

            def stacked():
                both[:, :D], both[:, D:] = x2, hp2
                return np.matmul(both.T, da2, out=out2)[D:]
            self.add(part, "dW_x and dW_h as one: [x | h_prev]ᵀ δa (the copy counted; x2ᵀ δa: see dW above)",
                     stacked, fl + 2.0 * M * D * G)

    def loss(self, logits, targets, mask):
        from unroll.nn import ops
        buf = np.empty_like(logits)
        part = f"loss: softmax cross-entropy in place  ({'x'.join(map(str, logits.shape))})"
        self.add(part, "copy of the logits (~0.015 ms) + ops.softmax_cross_entropy",
                 lambda: ops.softmax_cross_entropy((np.copyto(buf, logits), buf)[1], targets, mask, inplace=True)[1],
                 0.0)
        if mask is None:
            T, N, V = logits.shape
            lT, bufT, flat = np.ascontiguousarray(logits.reshape(-1, V).T), np.empty((V, T * N), logits.dtype), \
                np.asarray(targets).reshape(-1)
            self.add(part, "transposed layout (V, T·N), softmax over axis 0 (copy included)",
                     lambda: _cross_entropy_transposed((np.copyto(bufT, lT), bufT)[1], flat).T.reshape(T, N, V), 0.0)


def build(calls, linear, params) -> Cases:
    """The cases of every captured call; a linear layer is named by its weight's key in ``params``."""
    cases = Cases(linear)
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
