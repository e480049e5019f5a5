"""Penn Treebank, word level: Zaremba et al. (2014)'s small model, test perplexity.

    python benchmarks/ptb_word.py --data ../shared/data/ptb [--epochs 13] [--json benchmarks/results/DATE-CPU-ptb-word.json]
    python benchmarks/ptb_word.py --data ../shared/data/ptb --epochs 15 --decay-start 6 -- --dropout 0.2   # a variant

The configuration (their "small" model, no dropout): 2 x 200 LSTM, embedding 200, every weight from
uniform(-0.1, 0.1), batch 20, 35 unrolled steps (BPTT(35, 35), the state carried across batches),
plain SGD with learning rate 1.0 for 4 epochs then halved every epoch, gradient norm clipped at 5,
13 epochs. The paper reports test perplexity 114.5. ``--epochs`` and ``--decay-start`` (the epochs at the full
rate) change the schedule; flags after ``--`` go to `unroll train` as they are (e.g. ``-- --dropout 0.2``).

Their loss is the SUM over the 35 steps of the batch-mean cross-entropy, while unroll's is the mean over
all tokens, so their gradient is 35 times ours. SGD with their lr = 1 and norm clipping at 5 is therefore
exactly unroll's lr = 35 with clipping at 5 / 35: lr·clip(35 g, 5) = 35·lr·clip(g, 5/35). The run uses the real CLI (`unroll train`, then
`unroll eval --data ptb.test.txt`) and prints the commands, the perplexities and the time it took;
``--json PATH`` writes them with the date, machine and command line (benchmarks/results_table.py reads it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unroll.bench.measure import provenance

PTB = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"
TRAIN_TOKENS = 929_589          # words + one "\n" per line (data README)
BATCH, STEPS = 20, 35


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=13)
    parser.add_argument("--data", type=Path, default=PTB)
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary one)")
    parser.add_argument("--decay-start", type=int, default=4, help="epochs at the full rate before the halving starts")
    parser.add_argument("--json", type=Path)
    parser.add_argument("extra", nargs="*", help="more `unroll train` flags, after --")
    args = parser.parse_args()
    batches_per_epoch = (TRAIN_TOKENS // BATCH - 1) // STEPS
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "ptb"
        train = ["unroll", "train", "--data", str(args.data / "ptb.train.txt"), "--valid", str(args.data / "ptb.valid.txt"),
                 "--level", "word", "--tokenizer", "space", "--cell", "lstm", "--hidden", "200", "--layers", "2",
                 "--init-scale", "0.1", "--seq-len", str(STEPS), "--batch", str(BATCH), "--optimizer", "sgd",
                 "--lr", str(STEPS * 1.0), "--lr-decay", "0.5", "--lr-decay-every", str(batches_per_epoch),
                 "--lr-decay-start", str(args.decay_start * batches_per_epoch), "--clip", f"{5 / STEPS:.6g}",
                 "--max-steps", str(args.epochs * batches_per_epoch), "--eval-every", str(batches_per_epoch),
                 "--out", str(out), "--quiet", *args.extra]
        start = time.time()
        subprocess.run([sys.executable, "-m", "unroll", *train[1:]], check=True)
        train_s = time.time() - start
        evaluate = ["unroll", "eval", str(out), "--data", str(args.data / "ptb.test.txt"), "--json"]
        test = json.loads(subprocess.run([sys.executable, "-m", "unroll", *evaluate[1:]], check=True,
                                         capture_output=True, text=True).stdout)
        log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        valid = [r["valid_loss"] for r in log if "valid_loss" in r]
    import math
    result = provenance() | {"train_command": " ".join(train), "eval_command": " ".join(evaluate), "epochs": args.epochs,
              "decay_start": args.decay_start,
              "valid_perplexity_per_epoch": [round(math.exp(v), 2) for v in valid],
              "test_perplexity": round(test["perplexity"], 2), "train_seconds": round(train_s, 1)}
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
