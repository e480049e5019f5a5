"""The LSTM's elementwise row bodies alone, against the whole-layer loop around them (#34, lever 14).

    taskset -c 1 python benchmarks/lstm_rows.py --hidden 128 --rows 50 --steps 50 --json /tmp/lstm-rows.json
    ../shared/tools/quiet -- python benchmarks/lstm_rows.py --json benchmarks/results/NAME.json

One layer's forward and backward (float32, H = ``--hidden``, batch N = ``--rows``, sequence T = ``--steps``,
one BLAS thread unless ``--threads``), each timed as a ladder of cases that add one thing at a time, so the
differences say where the loop's time goes (milliseconds per layer call of T steps, median over
``--rounds`` rounds, the cases in turn within each round; and nanoseconds per unit-step, T·N·H of them):

- ``rows in L1``: the row body (``kernels/lstm.py``'s ``forward_row`` / ``backward_row``) over the same
  ``--l1-rows`` rows again and again (N·T row calls; everything stays in L1): the arithmetic alone;
- ``rows of one step``: the row body over one step's N rows (T times, the same (N, 4H) arrays: L2);
- ``loop without products``: ``kernels/lstm_layer.py``'s loop exactly (``forward_rows`` /
  ``backward_rows``'s row part, borrowed arrays and the backward's prefetch included, with the gather from
  a (V, 4H) table as for layer 0, ``--gathered``, or a (T, N, 4H) input), writing the real (T, N, ·)
  caches, with the per-step product left out (its result a fixed random array);
- ``products alone``: the T per-step products of the loop (``blas.matmul`` in a compiled loop);
- ``whole loop``: ``forward_rows`` / ``backward_rows`` themselves; ``layer call``: ``lstm_layer.forward``
  / ``backward`` (the Python around them: allocations, a contiguous ``W_hᵀ``, the split's bookkeeping);
  ``W_h^T made contiguous``: numpy's ``np.ascontiguousarray(W_h.T)`` (``transposed`` replaced it);
- ``layer 1``: an upper layer's input side as it runs (the projection of all T·N rows once, then T per-step
  products with K = H; backward ``dx`` once and T products) against one product per step on the
  concatenation ``[x_t, h_{t-1}] @ [W_x; W_h]`` (K = 2H; backward P = 2H), numpy's matmul both.

``--asm`` also counts instructions in the compiled whole-layer loops (``inspect_asm``): packed and scalar
float operations, divisions, ``lock``-prefixed ones (numba's reference counts of array views) and calls.
Timings on a shared machine are indicative only; docs/performance.md (lever 14) has the quiet commands.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
import sys
import time

from _threads import set_threads  # noqa: E402  (a sibling: sets the threads before numpy loads)


def _args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--rows", type=int, default=50, help="batch N")
    p.add_argument("--steps", type=int, default=50, help="sequence length T")
    p.add_argument("--vocab", type=int, default=65, help="rows of the gathered table (layer 0's folded embedding)")
    p.add_argument("--gathered", type=int, default=1, choices=(0, 1), help="1: layer 0 (gather, scatter δP)")
    p.add_argument("--l1-rows", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--asm", action="store_true", help="count instructions in the compiled loops")
    p.add_argument("--json", default=None, help="write the result here")
    return p.parse_args()


ARGS = _args()
set_threads(ARGS.threads, "off")

import numpy as np  # noqa: E402  (after the thread count is set)
from numba import njit  # noqa: E402

from unroll.nn.kernels import blas, layer_common, lstm_layer, memory  # noqa: E402
from unroll.nn.kernels.lstm import backward_row, forward_row  # noqa: E402
from unroll.nn.kernels.mathfn import CELL_OPTIONS, borrowed  # noqa: E402

OPTIONS = {**CELL_OPTIONS, "cache": False}
memory.keep_freed()      # as kernels.load does: freed arrays stay mapped (no page faults per call)


@njit(**OPTIONS)
def rows_forward(xw, hw, c, gates, tanh_c, hs, h_next, c_next, reps):
    """forward_row over rows 0..R-1 of (R, ·) arrays, reps times."""
    for _ in range(reps):
        for n in range(c.shape[0]):
            forward_row(xw[n], hw[n], c[n], False, gates[n], tanh_c[n], hs[n], h_next[n], c_next[n])


@njit(**OPTIONS)
def rows_backward(dhs, dh_rec, dh_dir, dc_next, gates, tanh_c, c_prev, m, da, reps):
    """backward_row over rows 0..R-1 of (R, ·) arrays, reps times (dc_next scaled back each time)."""
    for _ in range(reps):
        for n in range(dc_next.shape[0]):
            backward_row(dhs[n], dh_rec[n], dh_dir[n], dc_next[n], gates[n], tanh_c[n], c_prev[n], m[n], False,
                         da[n])


@njit(**OPTIONS)
def loop_forward_no_products(xw, table, ids, gathered, hw, m, masked, h_buf, c_buf, gates, tanh_c, hs, r0, r1):
    """lstm_layer.forward_rows without its product (hw fixed)."""
    xw, table, h_buf, c_buf, gates = borrowed(xw), borrowed(table), borrowed(h_buf), borrowed(c_buf), borrowed(gates)
    tanh_c, hs, hw = borrowed(tanh_c), borrowed(hs), borrowed(hw)
    for t in range(gates.shape[0]):
        for n in range(r0, r1):
            padded = masked and not m[t, n] > 0
            if padded:
                h_buf[t + 1, n] = h_buf[t, n]
            a = table[ids[t, n]] if gathered else xw[t, n]
            forward_row(a, hw[n - r0], c_buf[t, n], padded, gates[t, n], tanh_c[t, n], hs[t, n],
                        h_buf[t + 1, n], c_buf[t + 1, n])


@njit(**OPTIONS)
def loop_backward_no_products(dhs, gates, tanh_c, c_buf, m, masked, ids, gathered, dh_rec, dh_dir, dc_next, da,
                              dtable, r0, r1):
    """lstm_layer.backward_rows without its product (dh_rec fixed)."""
    dhs, gates, tanh_c, c_buf, da = borrowed(dhs), borrowed(gates), borrowed(tanh_c), borrowed(c_buf), borrowed(da)
    dh_rec, dh_dir, dc_next, dtable = borrowed(dh_rec), borrowed(dh_dir), borrowed(dc_next), borrowed(dtable)
    for t in range(gates.shape[0] - 1, -1, -1):
        for n in range(r0, r1):
            lstm_layer._prefetch_ahead(dhs, gates, tanh_c, c_buf, da, t, n, r0, r1)
            backward_row(dhs[t, n], dh_rec[n], dh_dir[n], dc_next[n], gates[t, n], tanh_c[t, n], c_buf[t, n],
                         m[t, n], masked, da[t, n])
            if gathered:
                dst, src = dtable[ids[t, n]], da[t, n]
                for k in range(src.shape[0]):
                    dst[k] += src[k]


@njit(**OPTIONS)
def products(a, W, out, steps):
    """steps products a @ W into out, as the loops make them."""
    for _ in range(steps):
        blas.matmul(a, W, out, 0.0)


def data(H, N, T, V, rng):
    """Realistic operands: gates from a forward pass, gradients of unit scale."""
    f32 = np.float32
    W_h = (rng.uniform(-1, 1, (H, 4 * H)) / np.sqrt(H)).astype(f32)
    table = (0.5 * rng.standard_normal((V, 4 * H))).astype(f32)
    ids = rng.integers(0, V, (T, N)).astype(np.int64)
    xw = np.ascontiguousarray(table[ids])
    h0, c0 = (0.1 * rng.standard_normal((N, H))).astype(f32), (0.1 * rng.standard_normal((N, H))).astype(f32)
    dhs = (0.1 * rng.standard_normal((T, N, H))).astype(f32)
    return W_h, table, ids, xw, h0, c0, dhs


def cases(H, N, T, V, gathered, R):
    """name -> callable running one layer call's worth of the case."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    W_h, table, ids, xw, h0, c0, dhs = data(H, N, T, V, rng)
    g_arg = None if gathered else xw
    h_buf, c_buf, gates, tanh_c, hs = lstm_layer.forward(g_arg, table, ids, W_h, h0, c0, None)
    W_h_T = np.ascontiguousarray(W_h.T)
    xw_, table_, ids_, m_ = layer_common.operands(g_arg, table, ids, None, f32, 4 * H)
    hw, hw_loop = (0.5 * rng.standard_normal((N, 4 * H))).astype(f32), np.empty((N, 4 * H), f32)
    dtable = np.zeros((V, 4 * H), f32)
    work = {name: a.copy() for name, a in (("gates", gates), ("tanh_c", tanh_c), ("h", h_buf), ("c", c_buf))}

    def step_rows(r):   # rows r of step 0's arrays (copies, so the cases do not share memory)
        return [a[0, :r].copy() for a in (xw, gates, c_buf, tanh_c, h_buf, dhs)]

    def forward_rows_case(r, reps):
        x1, g1, c1, tc1, h1, _ = step_rows(r)
        hw1, hs1, hn1, cn1 = hw[:r].copy(), np.empty_like(h1), np.empty_like(h1), np.empty_like(c1)
        return lambda: rows_forward(x1, hw1, c1, g1, tc1, hs1, hn1, cn1, reps)

    def backward_rows_case(r, reps):
        _, g1, c1, tc1, _, d1 = step_rows(r)
        rec, dirz, dc, m1, da1 = d1.copy(), np.zeros_like(d1), np.zeros_like(c1), np.ones(r, f32), np.empty_like(g1)
        return lambda: rows_backward(d1, rec, dirz, dc, g1, tc1, c1, m1, da1, reps)

    def loop_fwd_np():
        loop_forward_no_products(xw_, table_, ids_, gathered, hw, m_, False, work["h"], work["c"], work["gates"],
                                 work["tanh_c"], work["h"][1:], 0, N)

    def loop_bwd_np():
        rec, dirz, dc = dhs[0].copy(), np.zeros((N, H), f32), np.zeros((N, H), f32)
        loop_backward_no_products(dhs, gates, tanh_c, c_buf, m_, False, ids_, gathered, rec, dirz, dc,
                                  work["gates"], dtable, 0, N)

    fpk, fuse = layer_common.step_weights(W_h, N, False, True, layer_common.FORWARD)   # MKL's packed W_h, if here
    bpk, buse = layer_common.step_weights(W_h, N, True, True, layer_common.BACKWARD)

    def loop_fwd():
        lstm_layer.forward_rows(xw_, table_, ids_, gathered, W_h, fpk, fuse, m_, False, work["h"], work["c"],
                                work["gates"], work["tanh_c"], work["h"][1:], hw_loop, 0, N)

    def loop_bwd():
        rec, dirz, dc = dhs[0].copy(), np.zeros((N, H), f32), np.zeros((N, H), f32)
        lstm_layer.backward_rows(dhs, gates, tanh_c, c_buf, W_h_T, bpk, buse, m_, False, ids_, gathered, rec, dirz,
                                 dc, work["gates"], dtable, 0, N)

    concat = concat_cases(H, N, T, rng)
    hp, dh_out = h_buf[0].copy(), np.empty((N, H), f32)
    hw_out, da0 = np.empty((N, 4 * H), f32), hw.copy()
    reps_l1 = max(1, N * T // R)
    return {
        "forward": {
            "rows in L1": forward_rows_case(R, reps_l1),
            "rows of one step": forward_rows_case(N, T),
            "loop without products": loop_fwd_np,
            "products alone": lambda: products(hp, W_h, hw_out, T),
            "whole loop": loop_fwd,
            "layer call": lambda: lstm_layer.forward(g_arg, table, ids, W_h, h0, c0, None),
        },
        "backward": {
            "rows in L1": backward_rows_case(R, reps_l1),
            "rows of one step": backward_rows_case(N, T),
            "loop without products": loop_bwd_np,
            "products alone": lambda: products(da0, W_h_T, dh_out, T),
            "whole loop": loop_bwd,
            "W_h^T made contiguous": lambda: np.ascontiguousarray(W_h.T),
            "layer call": lambda: lstm_layer.backward(dhs, gates, tanh_c, c_buf[:T], W_h, h0, c0, None,
                                                      ids if gathered else None, V if gathered else 0),
        },
        "layer 1": concat,
    }


def concat_cases(H, N, T, rng):
    """An upper layer's input side two ways (numpy's matmul): the projection of all T·N rows once and T
    products with K = H per step (what runs), against T products of [x_t, h_{t-1}] @ [W_x; W_h] (K = 2H);
    backward: ``dx`` of all rows once and T products δ^{a_t} W_hᵀ, against T products δ^{a_t} [W_x; W_h]ᵀ."""
    f32 = np.float32
    x = rng.standard_normal((T * N, H), dtype=f32)
    W_x, W_h, b = (0.1 * rng.standard_normal(s, dtype=f32) for s in ((H, 4 * H), (H, 4 * H), (4 * H,)))
    W_cat, h = np.concatenate([W_x, W_h]), rng.standard_normal((N, H), dtype=f32)
    W_cat_T, W_h_T, W_x_T = (np.ascontiguousarray(w.T) for w in (W_cat, W_h, W_x))
    proj, hw, xh = np.empty((T * N, 4 * H), f32), np.empty((N, 4 * H), f32), np.empty((N, 2 * H), f32)
    da = rng.standard_normal((T * N, 4 * H), dtype=f32)
    dx, dh, dxh = np.empty((T * N, H), f32), np.empty((N, H), f32), np.empty((N, 2 * H), f32)

    def separate_forward():
        np.matmul(x, W_x, out=proj)
        np.add(proj, b, out=proj)
        for _ in range(T):
            np.matmul(h, W_h, out=hw)

    def concat_forward():
        for t in range(T):
            xh[:, :H] = x[t * N:(t + 1) * N]
            xh[:, H:] = h
            np.matmul(xh, W_cat, out=hw)

    def separate_backward():
        np.matmul(da, W_x_T, out=dx)
        for t in range(T):
            np.matmul(da[t * N:(t + 1) * N], W_h_T, out=dh)

    def concat_backward():
        for t in range(T):
            np.matmul(da[t * N:(t + 1) * N], W_cat_T, out=dxh)
            dx[t * N:(t + 1) * N] = dxh[:, :H]

    return {"projection + T products, K = H": separate_forward, "T products, K = 2H": concat_forward,
            "dx + T products": separate_backward, "T products, P = 2H": concat_backward}


def measure(all_cases, rounds):
    """Median seconds per call of every case, the cases in turn within each round (2 warm-up calls each)."""
    flat = [(d, name, fn) for d, group in all_cases.items() for name, fn in group.items()]
    for _, _, fn in flat:
        fn()
        fn()
    times = {(d, name): [] for d, name, _ in flat}
    for _ in range(rounds):
        for d, name, fn in flat:
            t0 = time.perf_counter()
            fn()
            times[(d, name)].append(time.perf_counter() - t0)
    return {key: float(np.median(v)) for key, v in times.items()}


def asm_counts() -> dict:
    """Instruction counts in the compiled whole-layer loops (every signature compiled so far), per function
    of the module numba compiled (the loop itself, its Python wrapper, numba's runtime helpers)."""
    out = {}
    for fn in (lstm_layer.forward_rows, lstm_layer.backward_rows):
        for sig, text in fn.inspect_asm().items():
            for label, lines in _functions(text).items():
                if len(lines) < 50:
                    continue
                ops = [ln.split()[0] for ln in lines]
                out[f"{fn.__name__} {str(sig[0])[:40]} {label[:60]}"] = {
                    "instructions": len(ops),
                    "packed float (v...ps)": sum(1 for op in ops if op.startswith("v") and op.endswith("ps")),
                    "on zmm": sum(1 for ln in lines if "zmm" in ln),
                    "on ymm": sum(1 for ln in lines if "ymm" in ln),
                    "scalar float (v...ss)": sum(1 for op in ops if op.startswith("v") and op.endswith("ss")),
                    "divisions": sum(1 for op in ops if op.startswith("vdiv")),
                    "lock": sum(1 for op in ops if op == "lock" or op.startswith("lock")),
                    "calls": dict(Counter(ln.split(None, 1)[1] for ln in lines if ln.startswith("call"))),
                }
    return out


def _functions(text: str) -> dict:
    """label -> its instruction lines, for each function of an assembly listing."""
    functions, current = {}, None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":") and not line.startswith("."):
            current = functions.setdefault(line[:-1], [])
        elif current is not None and line.startswith("\t") and line.strip() and not line.strip().startswith("."):
            current.append(line.strip())
    return functions


def main():
    from unroll.bench import measure as bench_measure
    H, N, T, V = ARGS.hidden, ARGS.rows, ARGS.steps, ARGS.vocab
    all_cases = cases(H, N, T, V, bool(ARGS.gathered), min(ARGS.l1_rows, N))
    seconds = measure(all_cases, ARGS.rounds)
    units = T * N * H
    result = {"machine": bench_measure.machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join(["python", *sys.argv]), "args": vars(ARGS), "cases": {}}
    print(f"LSTM layer, H {H}, batch {N}, sequence {T}, {'gathered (layer 0)' if ARGS.gathered else 'xw given'}, "
          f"{ARGS.threads} BLAS thread(s); ms per layer call (median of {ARGS.rounds}), ns per unit-step")
    for (d, name), s in seconds.items():
        result["cases"][f"{d}: {name}"] = {"ms": 1e3 * s, "ns_per_unit": 1e9 * s / units}
        print(f"  {d:<9} {name:<24} {1e3 * s:8.3f} ms {1e9 * s / units:7.2f} ns/unit")
    for d in ("forward", "backward"):
        whole, prods = seconds[(d, "whole loop")], seconds[(d, "products alone")]
        result["cases"][f"{d}: whole loop - products"] = {"ms": 1e3 * (whole - prods),
                                                         "ns_per_unit": 1e9 * (whole - prods) / units}
        print(f"  {d:<9} {'whole loop - products':<24} {1e3 * (whole - prods):8.3f} ms "
              f"{1e9 * (whole - prods) / units:7.2f} ns/unit")
    if ARGS.asm:
        result["asm"] = asm_counts()
        for name, counts in result["asm"].items():
            print(f"  asm {name}: {counts}")
    if ARGS.json:
        with open(ARGS.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        print(f"written: {ARGS.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
