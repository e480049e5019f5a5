"""The first run's kernel compilation cost: one training step of each cell in a fresh process, cold and warm.

    python benchmarks/compile_cost.py                     # cold (an empty numba cache), then warm, 2 times each
    ../shared/tools/quiet --wait 120 -- python benchmarks/compile_cost.py

Each measurement is a fresh ``python -c`` that imports unroll, builds a small 2-layer language model per
cell (LSTM, GRU, RNN; float32, batch 50, sequence 50, vocabulary 65 as in ``unroll train``) and trains
two steps each, with ``NUMBA_CACHE_DIR`` pointing at a new empty folder (cold: every kernel compiles, as on
a fresh install) or at the folder the cold run filled (warm: the kernels load from disk, as on every later
run). Prints, for the cold and the warm start, wall and CPU seconds (the child's user + system time), each
cell's first step (the compile or the cache load; ``unroll train``'s tokens/s leaves it out), and whether
the compile message that ``unroll train`` shows (``kernels.on_compile``) was said: cold yes, warm no.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, time
import numpy as np
from unroll.models import LanguageModel
from unroll.nn import kernels
from unroll.train.optim import Adam, clip_grad_norm
said = []
kernels.on_compile(said.append)                  # what unroll train's progress line registers
rng = np.random.default_rng(0)
x, y = rng.integers(0, 65, (50, 50)), rng.integers(0, 65, (50, 50))
first = {}
for cell in ("lstm", "gru", "rnn"):
    model = LanguageModel(vocab_size=65, hidden_size=32, num_layers=2, cell=cell, dropout=0.0)
    adam = Adam(model.params, lr=2e-3)
    for k in range(2):
        t0 = time.perf_counter()
        loss, grads, _ = model.loss_and_grads(x, y)
        clip_grad_norm(grads, 5.0)
        adam.step(grads)
        first.setdefault(cell, []).append(time.perf_counter() - t0)
print(json.dumps({"said": said, "steps_s": first}))
"""


def measure(cache_dir: str) -> dict:
    """Wall and CPU seconds of one fresh child process with this numba cache folder."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    child = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "cpu_s": cpu, "message_said": bool(child["said"]),
            "first_step_s": {c: s[0] for c, s in child["steps_s"].items()},
            "second_step_s": {c: s[1] for c, s in child["steps_s"].items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="cold and warm runs each (default 2)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    results = {"cold": [], "warm": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="unroll-numba-cache-") as cache:
            results["cold"].append(measure(cache))
            results["warm"].append(measure(cache))
    for kind, runs in results.items():
        print(f"{kind} start: " + ", ".join(
            f"{r['wall_s']:.1f} s wall / {r['cpu_s']:.1f} s CPU (first steps "
            + ", ".join(f"{c} {s:.2f} s" for c, s in r["first_step_s"].items())
            + f"; compile message {'said' if r['message_said'] else 'not said'})" for r in runs), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
