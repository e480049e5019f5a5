"""Training tokens/s of unroll against torch.nn at 2 threads and at 1, alternating in one process (unroll.bench).

    python benchmarks/train_speed.py                                  # six configs, threads 2,1, unroll's default
    python benchmarks/train_speed.py --strategies step,off,batch     # unroll's time-loop strategies side by side
    python benchmarks/train_speed.py --configs lstm-128,lstm-512 --threads 2 --rounds 5
    ../shared/tools/quiet --wait 120 -- python benchmarks/train_speed.py   # how a figure counts (docs/performance.md)

In every round each side runs once per thread count (numpy's BLAS by threadpoolctl, torch by
set_num_threads) and unroll once per strategy, in turn, so a burst of load hits all of them alike; each
ratio is the median of the per-round ratios. Strategies (unroll.bench.STRATEGIES): ``step`` the per-step
loop, ``off`` the whole-layer loop on one thread, ``batch`` the whole-layer loop with the batch rows split
across the BLAS threads, ``auto`` the default (``UNROLL_SPLIT`` / ``split.AUTO_BATCH_MAX_HIDDEN``).

Prints the machine (CPU and the kernel its flags allow, numpy's BLAS and the kernel threadpoolctl reports,
every thread pool in the process, and a warning when OPENBLAS_CORETYPE forces a lower kernel), the float32
matmul rate at each thread count, one line per configuration, thread count and strategy, and the table.
"""

import argparse
import json

from unroll import bench


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=None, help="e.g. lstm-512,gru-128 (default: all six)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds per configuration")
    parser.add_argument("--steps", type=int, default=None, help="training steps per side per round "
                                                                "(default: 5 at H=128, 2 at H=512)")
    parser.add_argument("--threads", default=None,
                        help="thread counts, e.g. 2,1 (default: the cores, at most 2, and 1)")
    parser.add_argument("--strategies", default="auto", help="unroll strategies among step, off, batch, auto")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    threads = bench.parse_threads(args.threads) or bench.default_threads()
    strategies = bench.parse_strategies(args.strategies)
    if not args.no_torch:
        bench.torch_with_threads()          # imported first, so that the machine line lists its thread pool
    machine = bench.machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in machine.items() if k != "warnings"), flush=True)
    for warning in machine["warnings"]:
        print(f"WARNING: {warning}", flush=True)
    rates = {str(n): bench.matmul_rate(15, n) for n in threads}
    print("numpy float32 matmul 2500x512 @ 512x2048: " + bench.matmul_line(rates), flush=True)
    rows = []
    for cell, H in bench.parse_configs(args.configs):
        steps = args.steps or (2 if H >= 384 else 5)
        for r in bench.train_speed(cell, H, rounds=args.rounds, steps=steps, with_torch=not args.no_torch,
                                   threads=threads, strategies=strategies):
            r["matmul_fraction"] = r["unroll_gflops"] / rates[str(r["threads"])]
            rows.append(r)
            print(bench.train_line(r), flush=True)
    results = {"machine": machine, "setting": {"torch": not args.no_torch}, "matmul_gflops": rates, "train": rows,
               "memory": [], "sample": None}
    print()
    print(bench.table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
