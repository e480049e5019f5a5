"""The step's large products under UNROLL_SPLIT=own, and how to cut them (#34, lever 13).

    python benchmarks/own_products.py --threads 2 --strategy off --json /tmp/own-products-off.json
    python benchmarks/own_products.py --threads 2 --strategy own --json /tmp/own-products-own.json

The products of the LSTM char-rnn step outside its loops (T·N = ``--tokens`` rows, H = ``--hidden``, 4H
gates, V = ``--vocab``, float32): layer 1's input projection ``x W_x``, its ``∂L/∂W = xᵀ δ`` (also the shape
of ``∂L/∂W_h``) and ``dx = δ W_xᵀ``, the output layer's ``h W``, ``∂L/∂W`` and ``dx``. ``--strategy off``
times numpy's own call at ``--threads`` BLAS threads; ``--strategy own`` holds numpy's BLAS at one thread
(``blas.hold``) and times each product as ``split.matmul`` makes it and every way of cutting it in k =
``--threads`` parts on split's pool: blocks of rows, blocks of columns (no pass after) and halves of the
inner sum (``Σ_i a[:, K_i] b[K_i]``, the results added: a second result and one pass more). Every result
is checked against numpy's product (relative 1e-4). Each case runs ``--rounds`` rounds (the cases in turn)
of ``--calls`` calls; the figure is the median over rounds of the milliseconds per call. The two runs are
separate processes because under ``off`` OpenBLAS's idle worker spins after each call (lever 10), which
is what ``own`` is for; the thread count is set in the environment before numpy loads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from _threads import set_threads


def _args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--strategy", default="own", choices=("off", "own"))
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--tokens", type=int, default=2500, help="T·N rows of the step (batch 50 x sequence 50)")
    p.add_argument("--vocab", type=int, default=65)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--calls", type=int, default=10, help="calls per case and round")
    p.add_argument("--json", default=None, help="write the result here")
    return p.parse_args()


ARGS = _args()
set_threads(ARGS.threads, ARGS.strategy)

import numpy as np  # noqa: E402  (after the thread count is set)


def products(H: int, M: int, V: int) -> dict:
    """name -> (a, b) with the step's shapes, strides and transposes (``ops.linear_*``'s operands)."""
    rng = np.random.default_rng(0)
    x, W, d = (rng.standard_normal(s, dtype=np.float32) for s in ((M, H), (H, 4 * H), (M, 4 * H)))
    W_out, d_out = rng.standard_normal((H, V), dtype=np.float32), rng.standard_normal((M, V), dtype=np.float32)
    return {f"projection x W_x ({M}x{H} @ {H}x{4 * H})": (x, W),
            f"dW = x^T d ({H}x{M} @ {M}x{4 * H})": (x.T, d),
            f"dx = d W_x^T ({M}x{4 * H} @ {4 * H}x{H})": (d, W.T),
            f"output h W ({M}x{H} @ {H}x{V})": (x, W_out),
            f"output dW = h^T d ({H}x{M} @ {M}x{V})": (x.T, d_out),
            f"output dx = d W^T ({M}x{V} @ {V}x{H})": (d_out, W_out.T)}


def cut(a, b, by: str, k: int):
    """a @ b in k parts on split's pool: blocks of "rows" or "columns" of the result, or "inner" halves of
    the sum over the inner dimension, added after."""
    from unroll.nn.kernels import split
    M, K = a.shape
    P = b.shape[1]
    size = {"rows": M, "columns": P, "inner": K}[by]
    ranges = [(size * i // k, size * (i + 1) // k) for i in range(k)]
    out = np.empty((M, P), a.dtype)

    def block(_, s0, s1):
        if by == "rows":
            np.matmul(a[s0:s1], b, out=out[s0:s1])
        elif by == "columns":
            np.matmul(a, b[:, s0:s1], out=out[:, s0:s1])
        else:
            return a[:, s0:s1] @ b[s0:s1]
    parts = split.run(block, ranges)
    if by == "inner":
        out = parts[0]
        for extra in parts[1:]:
            out += extra
    return out


def cases(k: int) -> dict:
    """case name -> function (a, b) -> a @ b, for this run's strategy."""
    if ARGS.strategy == "off":
        return {f"numpy, {k} BLAS threads": lambda a, b: a @ b}
    from unroll.nn.kernels import split
    return {"split.matmul": split.matmul, **{f"{by}, {k} parts": (lambda a, b, by=by: cut(a, b, by, k))
                                             for by in ("rows", "columns", "inner")}}


def main():
    from unroll.bench import measure
    from unroll.nn.kernels import blas, split
    if ARGS.strategy == "own":
        split.parts(50, ARGS.hidden, "lstm")                   # own takes hold: numpy's BLAS at one thread
        k = split.max_parts()                                  # the threads numpy's BLAS was allowed
    else:
        k = blas.threads()
    print(f"{ARGS.strategy}: numpy's BLAS at {blas.threads()} thread(s), {k} part(s)", flush=True)
    result = {"machine": measure.machine(), "date": time.strftime("%Y-%m-%d"), "args": vars(ARGS),
              "blas_threads_now": blas.threads(), "parts": k, "products": {}}
    for name, (a, b) in products(ARGS.hidden, ARGS.tokens, ARGS.vocab).items():
        expected = (a.astype(np.float64) @ b.astype(np.float64))
        fns = cases(k)
        times = {case: [] for case in fns}
        for _ in range(ARGS.rounds):
            for case, fn in fns.items():
                t0 = time.perf_counter()
                for _ in range(ARGS.calls):
                    got = fn(a, b)
                times[case].append((time.perf_counter() - t0) / ARGS.calls)
                err = float(np.abs(got - expected).max() / np.abs(expected).max())
                assert err < 1e-4, f"{name}, {case}: relative error {err:.2g}"
        row = {case: 1e3 * float(np.median(ts)) for case, ts in times.items()}
        if ARGS.strategy == "own":
            row["split.matmul cuts"] = split.blocks(a.shape[0], b.shape[1])[0]
        result["products"][name] = row
        print(f"{name}: " + ", ".join(f"{c} {v:.3f} ms" if isinstance(v, float) else f"{c}: {v}"
                                       for c, v in row.items()), flush=True)
    if ARGS.json:
        with open(ARGS.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        print(f"written: {ARGS.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
