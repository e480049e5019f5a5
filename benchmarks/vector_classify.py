"""Vector-sequence classification on a UEA archive set, side by side with 1-nearest-neighbour DTW (issue 22).

The data: JapaneseVowels (UEA/UCR multivariate archive; 9 speakers, 12 LPC cepstrum coefficients per
step, 7..29 steps, 270 train / 370 test cases), as the aeon package ships it in
``aeon/datasets/data/JapaneseVowels/JapaneseVowels_{TRAIN,TEST}.ts`` (BSD-3-Clause; the data come from
the UCI archive, Kudo, Toyama & Shimbo 1999). Get the files without installing aeon:

    pip download --no-deps aeon==1.6.0 -d /tmp/aeon && cd /tmp/aeon && unzip -q aeon-*.whl 'aeon/datasets/data/JapaneseVowels/*'
    python benchmarks/vector_classify.py --data /tmp/aeon/aeon/datasets/data/JapaneseVowels

Both sides read the .ts files with unroll's own loader (unroll.data.vectors.read_ts). The baseline is
1-NN with dependent multivariate DTW (DTW_D: squared Euclidean distance between whole vectors, full
window), on the raw features and on features standardised with the training set's mean and std; it has
no parameters to tune. unroll trains ``unroll train --task classify --data TRAIN.ts`` (10% of TRAIN held
out for monitoring only), for a fixed number of steps, then ``unroll eval RUN --data TEST.ts``; the
test set chooses nothing. Several seeds: each seed's accuracy, their mean, and the accuracy of the
seeds' averaged probabilities (an ensemble, as Jaeger et al. 2007 used). Accuracy after fixed training,
not a timed figure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np

from unroll.bench.measure import provenance
from unroll.cli import main as unroll_main
from unroll.data.vector_formats import read_ts
from unroll.data.vectors import apply_scaler, fit_scaler

# Chosen among four settings by the loss on the 10% of TRAIN held out (docs/vectors.md), never by TEST.
SETTINGS = ["--hidden", "64", "--bidirectional", "--readout", "max", "--dropout", "0.3", "--lr", "2e-3",
            "--batch", "16", "--eval-every", "500", "--log-every", "50"]


@numba.njit(cache=True)
def dtw_d(a, b):
    """Dependent DTW: cumulative squared Euclidean distance between vectors a (n, D), b (m, D), full window."""
    n, m = a.shape[0], b.shape[0]
    prev = np.full(m + 1, np.inf)
    prev[0] = 0.0
    for i in range(1, n + 1):
        cur = np.full(m + 1, np.inf)
        for j in range(1, m + 1):
            d = 0.0
            for k in range(a.shape[1]):
                diff = a[i - 1, k] - b[j - 1, k]
                d += diff * diff
            cur[j] = d + min(prev[j], prev[j - 1], cur[j - 1])
        prev = cur
    return prev[m]


def one_nn_dtw(train_xs, train_y, test_xs, test_y) -> float:
    right = 0
    for x, y in zip(test_xs, test_y):
        dists = [dtw_d(x, t) for t in train_xs]
        right += train_y[int(np.argmin(dists))] == y
    return right / len(test_y)


def cli(args: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = unroll_main(args)
    if code != 0:
        raise SystemExit(f"unroll {' '.join(args)} exited {code}")
    return out.getvalue()


def unroll_runs(train_path: Path, test_path: Path, seeds, steps: int, folder: Path, extra: list[str]):
    """Per seed: test accuracy and the test probabilities (in file order)."""
    results = []
    for seed in seeds:
        run = folder / f"seed{seed}"
        cli(["train", "--task", "classify", "--data", str(train_path), *SETTINGS, *extra, "--max-steps", str(steps),
             "--seed", str(seed), "--out", str(run), "--quiet"])
        metrics = json.loads(cli(["eval", str(run), "--data", str(test_path), "--json"]))
        lines = cli(["predict", str(run), str(test_path)]).splitlines()
        probs = [dict(kv.split(":") for kv in line.split("\t")[3].split()) for line in lines]
        results.append((seed, metrics["accuracy"], probs))
        print(f"unroll seed {seed}: test accuracy {metrics['accuracy']:.4f}", flush=True)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder holding JapaneseVowels_TRAIN.ts and _TEST.ts")
    p.add_argument("--name", default="JapaneseVowels")
    p.add_argument("--steps", type=int, default=1500, help="training steps per seed")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--out", type=Path, default=None, help="keep the run folders here (default: a temporary folder)")
    p.add_argument("--json", type=Path, default=None, help="write the table, date, machine and command as JSON here")
    p.add_argument("extra", nargs="*", help="further `unroll train` flags, after --")
    args = p.parse_args(argv)
    train_path, test_path = args.data / f"{args.name}_TRAIN.ts", args.data / f"{args.name}_TEST.ts"
    train, test = read_ts(train_path), read_ts(test_path)
    print(f"{args.name}: {len(train)} train, {len(test)} test, D = {train.xs[0].shape[1]}, lengths "
          f"{min(map(len, train.xs + test.xs))}..{max(map(len, train.xs + test.xs))}, "
          f"{len(set(train.labels))} classes", flush=True)
    table = provenance() | {"data": args.name, "train": len(train), "test": len(test)}
    table["1nn_dtw_d_raw"] = one_nn_dtw(train.xs, train.labels, test.xs, test.labels)
    scaler = fit_scaler(train.xs)
    table["1nn_dtw_d_standardised"] = one_nn_dtw(apply_scaler(train.xs, scaler, np.float64), train.labels,
                                                 apply_scaler(test.xs, scaler, np.float64), test.labels)
    print(f"1-NN DTW_D: raw {table['1nn_dtw_d_raw']:.4f}, standardised {table['1nn_dtw_d_standardised']:.4f}",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        runs = unroll_runs(train_path, test_path, range(args.seeds), args.steps, folder, args.extra)
    accs = [a for _, a, _ in runs]
    names = sorted(runs[0][2][0])
    mean_p = np.mean([[[float(row[n]) for n in names] for row in probs] for _, _, probs in runs], axis=0)
    ensemble = float(np.mean([names[k] == y for k, y in zip(mean_p.argmax(axis=1), test.labels)]))
    table |= {"unroll_settings": " ".join(SETTINGS + args.extra) + f" --max-steps {args.steps}",
              "unroll_seed_accuracy": accs, "unroll_mean": float(np.mean(accs)), "unroll_sd": float(np.std(accs)),
              "unroll_ensemble": ensemble}
    print(f"unroll: mean {np.mean(accs):.4f} (sd {np.std(accs):.4f}, min {min(accs):.4f}, max {max(accs):.4f}), "
          f"ensemble of {len(accs)} seeds {ensemble:.4f}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
