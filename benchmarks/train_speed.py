"""Training tokens/s of unroll against torch.nn: ``unroll bench`` without the memory and sampling parts.

    python benchmarks/train_speed.py                                  # six configs and the default, threads 2,1
    python benchmarks/train_speed.py --strategies off,batch,auto # unroll's time-loop strategies side by side
    python benchmarks/train_speed.py --configs lstm-128,default --threads 2 --rounds 7
    ../shared/tools/quiet --wait 120 -- python benchmarks/train_speed.py --json benchmarks/results/NAME.json

Every side in a fresh process per round (``unroll/bench/rounds.py``: torch's loads no unroll or numba,
unroll's no torch, one thread count per process, set before numpy or torch load), warm-up, alternating
rounds, the median of the per-round ratios. Every flag is ``unroll bench``'s (``unroll bench --help``).
"""

import sys

from unroll.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--no-memory", "--no-sample", *sys.argv[1:]]))
