"""Throughput cost of the stack-level regularisers (unroll/nn/regularize.py): training tokens/s of a 2-layer
language model with plain dropout against locked dropout, weight drop, and both, in alternating rounds
A B C D A B C D ... in one process, so that load drifts hit every variant alike. Timed: run it through
../shared/tools/quiet on an idle machine.

    python benchmarks/regularizer_cost.py --cell lstm --hidden 512 --rounds 7 --steps 3 --json cost.json

Prints per variant the median tokens/s and the median of the per-round ratios to plain dropout; the issue's
bar is a cost of at most 10% (ratio >= 0.90). Batches: random ids of a 65-token vocabulary (tiny
Shakespeare's size), T = 100 steps by N = 32 sequences, carried state, Adam, clipping 5.
"""

import argparse
import json
import statistics
import time

import numpy as np

from unroll.models import LanguageModel
from unroll.train.optim import Adam, clip_grad_norm

VARIANTS = {"dropout": {}, "locked": {"locked_dropout": True}, "weight_drop": {"weight_drop": 0.5},
            "locked+weight_drop": {"locked_dropout": True, "weight_drop": 0.5}}


class Variant:
    def __init__(self, cell, H, options, V=65, seed=0):
        self.model = LanguageModel(V, hidden_size=H, num_layers=2, cell=cell, dropout=0.25, seed=seed, **options)
        self.adam, self.state = Adam(self.model.params, lr=2e-3), None

    def step(self, x, y):
        loss, grads, self.state = self.model.loss_and_grads(x, y, self.state)
        clip_grad_norm(grads, 5.0)
        self.adam.step(grads)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", default="lstm")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=3, help="training steps per variant per round")
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--N", type=int, default=32)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    variants = {name: Variant(args.cell, args.hidden, opts) for name, opts in VARIANTS.items()}
    batches = [(rng.integers(0, 65, (args.T, args.N)), rng.integers(0, 65, (args.T, args.N))) for _ in range(4)]
    for v in variants.values():                                  # warm-up: numba compilation, caches
        v.step(*batches[0])
    rates = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, v in variants.items():
            start = time.perf_counter()
            for s in range(args.steps):
                v.step(*batches[s % len(batches)])
            rates[name].append(args.steps * args.T * args.N / (time.perf_counter() - start))
    rows = []
    for name in variants:
        ratios = [a / b for a, b in zip(rates[name], rates["dropout"])]
        rows.append({"variant": name, "tokens_per_s": statistics.median(rates[name]),
                     "ratio_to_dropout": statistics.median(ratios)})
        print(f"{args.cell}-{args.hidden} {name:<20} {rows[-1]['tokens_per_s']:>10.0f} tokens/s  "
              f"ratio to plain dropout {rows[-1]['ratio_to_dropout']:.3f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows, "rates": rates}, f, indent=2)


if __name__ == "__main__":
    main()
