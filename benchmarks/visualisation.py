"""Figures for docs/visualisation.md: the best unit per text feature of a trained character model, next to
the same model at its initial weights (what a random LSTM already correlates with), and gate saturation.

    python benchmarks/visualisation.py RUN_DIR [--chars 20000] [--regex R] [--out FILE.json]

Reads the run's validation text (the last 10% of its corpus), so nothing here was trained on.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from unroll.analysis import activations, features, gates
from unroll.analysis import visualize as V


def best(model, vocab, text, chars, regex):
    acts = activations.collect(model, vocab, text, max_chars=chars)
    found = features.find(acts, regex)
    rows = features.best_units(found, top=1)
    return {row["feature"]: row for row in rows}, acts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--chars", type=int, default=20000)
    p.add_argument("--regex", default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    model, vocab, task, info = V.load_char_lm(args.run_dir)
    text = V.run_text(model, vocab, task)
    trained, acts = best(model, vocab, text, args.chars, args.regex)
    initial = task.build_model(task.settings["train"].seed)      # the run's initial weights
    untrained, _ = best(initial, vocab, text, args.chars, args.regex)
    sat = gates.saturation(acts) if acts.gates and acts.gates[0] else None
    print(f"{args.run_dir}: step {info['step']}, {acts.ids.size} validation characters")
    print(f"{'feature':<15} {'trained: state layer unit r':>30} {'initial weights: r':>20}")
    for name, row in trained.items():
        state = "tanh(c)" if row["kind"] == "c" else "h"
        print(f"{name:<15} {state:>12} {row['layer']:>5} {row['unit']:>5} {row['r']:>+6.3f} {untrained[name]['r']:>+20.3f}")
    if sat:
        for l, layer in enumerate(sat["layers"]):
            print(f"layer {l} gates: " + ", ".join(f"{g} <0.1 {v['mean_left']:.3f} >0.9 {v['mean_right']:.3f}"
                                                   for g, v in layer.items()))
    if args.out:
        summary = {"run": args.run_dir, "step": info["step"], "chars": int(acts.ids.size),
                   "trained": trained, "initial": untrained,
                   "gates": None if sat is None else [{g: {k: v[k] for k in ("mean_left", "mean_right")}
                                                      for g, v in layer.items()} for layer in sat["layers"]]}
        with open(args.out, "w") as fh:
            json.dump(summary, fh, indent=1)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
