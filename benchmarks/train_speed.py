"""Training tokens/s of unroll against torch.nn, alternating A B A B in one process (unroll.bench).

    python benchmarks/train_speed.py                         # the six char-rnn configurations
    python benchmarks/train_speed.py --configs lstm-512 --rounds 11 --steps 3 --json out.json
    OPENBLAS_NUM_THREADS=1 python benchmarks/train_speed.py  # both sides on one thread (a busy machine)
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/train_speed.py   # where those are set

Batches come from the real data pipeline (CharVocab, StreamBatcher over the bundled tiny Shakespeare).
Prints the machine (CPU, cores, BLAS and the kernel threadpoolctl reports, numba and torch versions), then
one line per configuration: both sides' tokens/s, the median of the per-round ratios, and unroll's achieved
GFLOP/s against numpy's float32 matrix-multiply rate measured in the same run.
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
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    machine = bench.machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in machine.items()), flush=True)
    rate = bench.matmul_rate()
    print(f"numpy float32 matmul 2500x512 @ 512x2048: {rate:.1f} GFLOP/s", flush=True)
    rows = []
    for cell, H in bench.parse_configs(args.configs):
        steps = args.steps or (2 if H >= 384 else 5)
        r = bench.train_speed(cell, H, rounds=args.rounds, steps=steps, with_torch=not args.no_torch)
        r["matmul_fraction"] = r["unroll_gflops"] / rate
        rows.append(r)
        print(bench.train_line(r) + f"; {100 * r['matmul_fraction']:.0f}% of the matmul rate", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"matmul_gflops": rate, "train": rows, "machine": machine}, f, indent=2)


if __name__ == "__main__":
    main()
