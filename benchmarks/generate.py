"""One-to-many, measured (issue #23): a sentence of the asked polarity, conditioned as h0, as an input at
every step, or both, against an unconditional model, on the same held-out sentences.

    python benchmarks/generate.py ../shared/data/rt-polarity --steps 6000 --samples 200 --out runs/generate

Data: rt-polarity's 10,662 sentences, 10% held out (seed 0). Trained through the real CLI, every model
with the same flags but ``--mode`` (``--tokenizer space``, the task's defaults otherwise, ``--steps``
updates):

- conditional generators ``--mode h0 | input | both``: held-out perplexity (per token, <eos> included),
  ``unroll eval RUN --data test.tsv``;
- the unconditional model: the same generator trained with one label for every sentence (its
  condition says nothing), so the per-token perplexities compare like with like;
- the share of generated sentences (``--samples`` per class, temperature ``--temperature``, or beam search
  with ``--beam K``) that a classifier (``unroll train --task classify`` with its defaults on the training
  part, best checkpoint) assigns to the asked class. Target: at least 80%.

Prints one JSON line per model and a table. Not timed: accuracy and perplexity after fixed training.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from unroll.cli import main as unroll  # noqa: E402
from unroll.data.columns import read_class_files  # noqa: E402
from unroll.tasks.generate import GeneratePredictOptions  # noqa: E402
from unroll.runs import run  # noqa: E402

MODES = ("h0", "input", "both")


def write_tsv(path: Path, rows) -> None:
    path.write_text("".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")


def train(argv):
    if unroll(argv) != 0:
        raise SystemExit("failed: unroll " + " ".join(argv))


def perplexity(run_dir: Path, data: Path) -> float:
    task, model, _ = run.load(run_dir, "best")
    return float(task.metrics(model, str(data))["perplexity"])


def generated_share(gen_dir: Path, cls_dir: Path, args) -> dict:
    """Share of generated sentences the classifier assigns to the asked class, per class and overall."""
    gen_task, gen_model, _ = run.load(gen_dir, "best")
    cls_task, cls_model, _ = run.load(cls_dir, "best")
    options = replace(GeneratePredictOptions(), temperature=args.temperature, beam=args.beam, max_length=40,
                      seed=args.seed)
    out, samples = {}, {}
    for label in gen_task.prepared["labels"]:
        lines = [line for line in gen_task.predict(gen_model, [label] * args.samples, options) if line.strip()]
        predicted = [p.split("\t")[0] for p in cls_task.predict(cls_model, lines, None)]
        out[label] = float(np.mean([p == label for p in predicted])) if predicted else 0.0
        samples[label] = lines[:5]
    out["mean"] = float(np.mean([out[k] for k in gen_task.prepared["labels"]]))
    return {"share_assigned_to_asked_class": out, "examples": samples}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="folder holding rt-polarity.pos and rt-polarity.neg")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--classifier-steps", type=int, default=1600)
    p.add_argument("--samples", type=int, default=200, help="generated sentences per class")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--beam", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/generate")
    args = p.parse_args(argv)
    folder, work = Path(args.data), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    examples = read_class_files([folder / "rt-polarity.pos", folder / "rt-polarity.neg"], encoding="latin-1")
    perm = np.random.default_rng(0).permutation(len(examples))
    cut = len(examples) // 10
    test, fit = [examples[i] for i in perm[:cut]], [examples[i] for i in perm[cut:]]
    write_tsv(work / "train.tsv", fit)
    write_tsv(work / "test.tsv", test)
    write_tsv(work / "train-one-label.tsv", [("any", t) for _, t in fit])
    write_tsv(work / "test-one-label.tsv", [("any", t) for _, t in test])
    common = ["--tokenizer", "space", "--max-steps", str(args.steps), "--quiet"]
    train(["train", "--task", "classify", "--data", str(work / "train.tsv"), "--tokenizer", "space",
           "--max-steps", str(args.classifier_steps), "--quiet", "--out", str(work / "classifier")])
    train(["train", "--task", "generate", "--data", str(work / "train-one-label.tsv"), "--mode", "both", *common,
           "--out", str(work / "unconditional")])
    unconditional = perplexity(work / "unconditional", work / "test-one-label.tsv")
    print(json.dumps({"model": "unconditional", "test_perplexity": unconditional}), flush=True)
    rows = []
    for mode in MODES:
        train(["train", "--task", "generate", "--data", str(work / "train.tsv"), "--mode", mode, *common,
               "--out", str(work / mode)])
        row = {"model": mode, "test_perplexity": perplexity(work / mode, work / "test.tsv"),
               "unconditional_perplexity": unconditional, **generated_share(work / mode, work / "classifier", args)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("| conditioning | held-out perplexity | unconditional | share assigned to the asked class |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['test_perplexity']:.1f} | {unconditional:.1f} | "
              f"{100 * r['share_assigned_to_asked_class']['mean']:.1f}% |")


if __name__ == "__main__":
    main()
