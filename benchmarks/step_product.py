"""The per-step product alone: h_{t-1} W_h, (N x H) @ (H x G·H), at 1 and at 2 BLAS threads (#34).

    python benchmarks/step_product.py                       # N = 50, H = 128, 256, 512, the LSTM's G = 4
    ../shared/tools/quiet --wait 120 -- python benchmarks/step_product.py --json benchmarks/results/NAME.json

What a time loop pays per step for its product when BLAS wakes a second thread for a 50-row product (the
wake-up cost, #34), against one thread: each (H, threads) in a fresh process, the thread count set in the
environment before numpy loads, 200 products of warm-up, then the median of 15 blocks of 200 products;
5 alternating rounds of fresh processes, the median per-round ratio 1-thread time / 2-thread time
(above 1: the second thread pays). Prints the CPU and numpy's BLAS kernel.
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = """
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info
N, H, G = (int(a) for a in sys.argv[1:4])
rng = np.random.default_rng(0)
h, W, out = (rng.standard_normal(s, dtype=np.float32) for s in ((N, H), (H, G * H), (N, G * H)))
for _ in range(200):
    np.matmul(h, W, out=out)
blocks = []
for _ in range(15):
    t0 = time.perf_counter()
    for _ in range(200):
        np.matmul(h, W, out=out)
    blocks.append((time.perf_counter() - t0) / 200)
blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
print(json.dumps({"seconds": float(np.median(blocks)), "threads": blas[0]["num_threads"],
                  "kernel": f"{blas[0]['internal_api']} {blas[0].get('architecture')}"}))
"""


def product(N: int, H: int, G: int, threads: int) -> dict:
    env = dict(os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    done = subprocess.run([sys.executable, "-c", CHILD, str(N), str(H), str(G)], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--hidden", default="128,256,512")
    parser.add_argument("--gates", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    from unroll.bench.measure import machine
    mach = machine()
    print(f"machine: {mach['cpu']}, {mach['cores']} cores; numpy {mach['numpy']} ({mach['blas']}, kernel "
          f"{mach['blas_kernel']})", flush=True)
    rows = []
    for H in (int(h) for h in args.hidden.split(",")):
        runs = {1: [], 2: []}
        for r in range(args.rounds):
            for n in ((1, 2) if r % 2 == 0 else (2, 1)):
                runs[n].append(product(args.rows, H, args.gates, n))
        one, two = ([x["seconds"] for x in runs[n]] for n in (1, 2))
        ratio = sorted(a / b for a, b in zip(one, two))[len(one) // 2]
        row = {"N": args.rows, "H": H, "G": args.gates, "one_thread_us": 1e6 * sorted(one)[len(one) // 2],
               "two_threads_us": 1e6 * sorted(two)[len(two) // 2], "ratio_1_over_2": ratio,
               "kernel": runs[1][0]["kernel"]}
        rows.append(row)
        print(f"({args.rows} x {H}) @ ({H} x {args.gates * H}): 1 thread {row['one_thread_us']:.1f} us, "
              f"2 threads {row['two_threads_us']:.1f} us, 1-thread time / 2-thread time {ratio:.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": mach, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
