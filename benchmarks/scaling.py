"""Data-parallel scaling: throughput at P = 1 and P = 2 on this machine, the allreduce's cost, a cost model.

    python benchmarks/scaling.py                              # measure P=1 vs P=2, then the cost model
    python benchmarks/scaling.py --model-only                 # only the cost model table (no training)

P = 1 is one process with as many BLAS threads as cores; P = 2 is `unroll train --workers 2` (one BLAS
thread per rank). Both train the same model on the same global batch (tiny Shakespeare, the bundled copy)
for --steps steps; tokens/s is read from the run's last metrics record. The allreduce is timed alone by
`mpiexec -n 2 python benchmarks/scaling.py --probe BYTES`, over a buffer of the model's gradient size.

The cost model (docs/scaling.md) extends the measurement to many machines: a ring allreduce of B bytes over
P ranks sends 2 (P-1)/P · B bytes per rank, in 2 (P-1) latency-bound rounds; with a strong-scaling global
batch each rank computes t1 / P of the one-process step time t1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = {"10 GbE": (1.25e9, 30e-6), "100 Gb InfiniBand": (12.5e9, 2e-6)}   # bytes/s, seconds per round
# One-process step times used when not measured in this run: 2x512 LSTM, batch 50x50 at ~3,000 tokens/s
# (issue 9's table); PTB small, batch 20x35, 13 epochs of 929,589 tokens in 4,844 s = 2,495 tokens/s (README).
STEP_SECONDS = {"2x512 LSTM (char, V=65)": 2500 / 3000, "PTB small 2x200 LSTM (V=10,000)": 700 / 2495}
MODELS = {"2x512 LSTM (char, V=65)": dict(V=65, E=512, H=512, layers=2, tokens=50 * 50),
          "PTB small 2x200 LSTM (V=10,000)": dict(V=10000, E=200, H=200, layers=2, tokens=20 * 35)}


def lstm_lm_parameters(V: int, E: int, H: int, layers: int, **_) -> int:
    """Embedding V·E, each layer's W_x (D, 4H), W_h (H, 4H), b (4H), readout H·V + V."""
    stack = sum((E if l == 0 else H) * 4 * H + H * 4 * H + 4 * H for l in range(layers))
    return V * E + stack + H * V + V


def ring_allreduce_seconds(nbytes: float, P: int, bandwidth: float, latency: float) -> float:
    return 0.0 if P == 1 else 2 * (P - 1) / P * nbytes / bandwidth + 2 * (P - 1) * latency


def cost_table(step_seconds: dict[str, float]) -> str:
    """Markdown: per model, network and P, compute per step (t1/P), allreduce time, communication share."""
    lines = ["| model | gradient MB | network | P | compute/step (s) | allreduce (s) | communication share |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for name, spec in MODELS.items():
        nbytes = 4 * lstm_lm_parameters(**spec)
        t1 = step_seconds[name]
        for net, (bw, lat) in NETWORKS.items():
            for P in (8, 64, 256):
                comm = ring_allreduce_seconds(nbytes, P, bw, lat)
                compute = t1 / P
                lines.append(f"| {name} | {nbytes / 1e6:.1f} | {net} | {P} | {compute:.4f} | {comm:.4f} | "
                             f"{comm / (comm + compute):.0%} |")
    return "\n".join(lines)


def train_tokens_per_s(workers: int, steps: int, hidden: int, corpus: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if workers == 1:
            env.setdefault("OPENBLAS_NUM_THREADS", str(os.cpu_count() or 1))
        command = [sys.executable, "-m", "unroll", "train", "--data", str(corpus), "--hidden", str(hidden),
                   "--batch", "50", "--seq-len", "50", "--max-steps", str(steps), "--eval-every", str(10 * steps),
                   "--log-every", "1", "--quiet", "--out", f"{tmp}/run", "--workers", str(workers)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        records = [json.loads(line) for line in Path(f"{tmp}/run/metrics.jsonl").read_text().splitlines()]
        rates = [r["tokens_per_s"] for r in records if r.get("train_loss") is not None][1:]   # skip the first
        del done
        return float(np.median(rates))


def probe(nbytes: int, repeats: int = 20) -> None:
    """Under mpiexec: time an Allreduce of ``nbytes`` of float32 (median of ``repeats``), printed by rank 0."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    buf = np.ones(nbytes // 4, np.float32)
    times = []
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        times.append(time.perf_counter() - start)
    if comm.Get_rank() == 0:
        print(json.dumps({"bytes": nbytes, "seconds": float(np.median(times))}))


def measure_allreduce(nbytes: int) -> float:
    from unroll.train import distributed
    command, env = distributed.launch_command(2, [])
    command = command[:3] + [sys.executable, __file__, "--probe", str(nbytes)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--model-only", action="store_true")
    parser.add_argument("--probe", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe is not None:
        return probe(args.probe)
    sys.path.insert(0, str(ROOT))
    step_seconds = {}
    if not args.model_only:
        from unroll.data.text import bundled_corpus_path
        corpus = Path(str(bundled_corpus_path()))
        one = train_tokens_per_s(1, args.steps, args.hidden, corpus)
        two = train_tokens_per_s(2, args.steps, args.hidden, corpus)
        nbytes = 4 * lstm_lm_parameters(V=65, E=args.hidden, H=args.hidden, layers=2)
        reduce_s = measure_allreduce(nbytes)
        step = 2500 / two
        print(f"2x{args.hidden} LSTM, batch 50 x 50: P=1 (one process, {os.cpu_count()} BLAS threads) "
              f"{one:,.0f} tokens/s; P=2 (--workers 2, 1 thread each) {two:,.0f} tokens/s ({two / one:.2f}x)")
        print(f"allreduce of {nbytes / 1e6:.1f} MB between 2 ranks: {1e3 * reduce_s:.2f} ms "
              f"({reduce_s / step:.1%} of a {step:.2f} s step)")
        if args.hidden == 512:
            step_seconds["2x512 LSTM (char, V=65)"] = 2500 / one
    print(cost_table({**STEP_SECONDS, **step_seconds}))

if __name__ == "__main__":
    main()
