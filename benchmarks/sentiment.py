"""Sentence polarity (Pang & Lee's rt-polarity, 10,662 sentences), 10-fold cross-validation, three models
side by side on the same folds in the same run (accuracy after fixed training; not timed):

- **NBSVM** (Wang & Manning 2012; Kim 2014 reports 79.4): binarised unigrams + bigrams, naive-Bayes
  log-count ratios r (α = 1), a linear L2-SVM (C = 1) on x ⊙ r, weights interpolated w' = (1-β) w̄ + β w,
  β = 0.25 (scikit-learn: ``pip install 'unroll[bench]'``).
- **unroll, from scratch, the defaults**: ``unroll train --task classify --data train.tsv --tokenizer space``
  and nothing else but ``--max-steps`` (``--epochs`` passes over the training part); the best checkpoint
  by validation accuracy (10% of the training folds, held out by the task itself) scores the test fold.
- **unroll, pretrained** (``--pretrain``; ULMFiT's recipe, Howard & Ruder 2018, with no outside corpus): a
  word-level language model with the pretrained classifier's own shapes (read from `unroll train --task
  classify`'s settings with the ``--finetune`` flags: cell, hidden size, layers, embedding, and its
  ``--min-count`` and ``--members``: K language models side by side, member k starting classifier member k)
  trained on the training folds' sentences only (plus ``--extra-text`` files if given: lower-cased, split
  into words and punctuation), never the held-out fold; then the same classifier command with
  ``--init-from`` it (the embedding and the stack's forward direction are copied,
  unroll/tasks/pretrained.py) and ``--finetune`` flags (default: gradual
  unfreezing, one group more every validation, and discriminative learning rates, layer decay 0.5:
  unroll/train/finetune.py).

    python benchmarks/sentiment.py ../shared/data/rt-polarity --folds 0 --out runs/sentiment    # fold 0 only
    python benchmarks/sentiment.py ../shared/data/rt-polarity --pretrain --lm-time 600 --time 300 \\
        --json runs/sentiment.json        # all 10 folds, 15 minutes per fold for the pretrained model

``--lm-from OUT`` reuses the language models of an earlier ``--pretrain`` run (its ``--out``) instead of
training them again: classifier variants (``--finetune`` flags) on the same language models; each fold's
row names the folder it read (``"lm": {"reused": ...}``).

``--time S`` trains each classifier for ``--max-time S`` (the issue's "300 s per fold") instead of
``--epochs``; ``--lm-time S`` the language model instead of ``--lm-steps``. ``--flags '...'`` adds
settings to the from-scratch classifier's command (candidate defaults; docs/tune.md "Classification
defaults"); each fold reports its best checkpoint's validation accuracy (``valid_acc``) beside the test
fold's, and candidates are chosen by the first. ``--models`` with no name writes the folds' TSV files
only (for `unroll tune --data runs/sentiment/fold0/train.tsv`, docs/tune.md).

Folds: the sentences (positives then negatives, as read) are shuffled once with seed 0 and dealt into 10
folds (the split of the earlier table in docs/tasks.md). Prints one JSON line per fold and a summary line;
``--json PATH`` writes them with the date, machine and command (benchmarks/results_table.py reads it).

``--combine A.json B.json ... --json OUT`` joins the files of runs that each took some of the folds (a
ten-fold figure measured in several quiet windows) into one file of the same shape: the rows of every
part, the means over all of them, and each part's file, date and command under ``"parts"``. It refuses,
in one line naming the file, parts whose settings (other than folds, --out and --json) or CPU differ, and
a fold that two parts both hold.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from unroll.cli import main as unroll  # noqa: E402
from unroll.data.columns import read_class_files  # noqa: E402
from unroll.data.vocab import tokenize  # noqa: E402
from unroll.bench.measure import provenance  # noqa: E402
from unroll.runs import run  # noqa: E402


MODELS = ("nbsvm", "scratch", "pretrained")


def folds_of(n: int, k: int = 10, seed: int = 0) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


def nbsvm(train_texts, train_y, test_texts, test_y, alpha=1.0, C=1.0, beta=0.25) -> float:
    """Test accuracy of NBSVM-bi (labels 0/1)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.svm import LinearSVC
    vec = CountVectorizer(ngram_range=(1, 2), binary=True, token_pattern=r"\S+", lowercase=False)
    X, Xt = vec.fit_transform(train_texts), vec.transform(test_texts)
    y = np.asarray(train_y)
    p = alpha + np.asarray(X[y == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(X[y == 0].sum(axis=0)).ravel()
    r = np.log((p / p.sum()) / (q / q.sum()))
    svm = LinearSVC(C=C, loss="squared_hinge", max_iter=10_000).fit(X.multiply(r).tocsr(), y)
    w = svm.coef_.ravel()
    w = (1 - beta) * np.abs(w).mean() + beta * w if beta < 1 else w   # Wang & Manning's interpolation
    pred = (Xt.multiply(r).tocsr() @ w + svm.intercept_[0] > 0).astype(int)
    return float(np.mean(pred == np.asarray(test_y)))


def write_tsv(path: Path, texts, labels) -> None:
    path.write_text("".join(f"{'pos' if y == 1 else 'neg'}\t{t}\n" for t, y in zip(texts, labels)), encoding="utf-8")


def budget(steps: int, seconds: float | None) -> list[str]:
    """--max-time SECONDS when a time budget is given, else --max-steps STEPS."""
    return ["--max-time", f"{seconds:g}"] if seconds else ["--max-steps", str(steps)]


def lm_shape(finetune: list[str]) -> list[str]:
    """The pretrained classifier as `unroll train --task classify FINETUNE` builds it, as language-model flags:
    its network's shape, its --min-count (so the LM trains the <unk> row the classifier's rare words read) and
    its --members (an LM ensemble of K starts the K members one to one, unroll/tasks/pretrained.py)."""
    from unroll.tune.spec import train_settings
    sections = train_settings("classify", finetune)[0]
    net, c = sections["network"], sections["classify"]
    return ["--cell", net.cell, "--hidden", str(net.hidden_size), "--layers", str(net.num_layers),
            "--embedding", str(net.embedding_size or net.hidden_size), "--min-count", str(c.min_count),
            "--members", str(c.members)]


def valid_accuracy(folder, step: int) -> float:
    """The validation accuracy the run logged at its best checkpoint's step (RunFolder.metrics)."""
    for row in folder.metrics():
        if row.get("step") == step and "valid_accuracy" in row:
            return row["valid_accuracy"]
    raise SystemExit(f"{folder.path}/metrics.jsonl: no validation at step {step}")


def classify(out: Path, train_tsv: Path, test_tsv: Path, limit: list[str], extra: list[str]) -> dict:
    start = time.time()
    argv = ["train", "--task", "classify", "--data", str(train_tsv), "--tokenizer", "space",
            *limit, "--out", str(out), "--quiet", *extra]
    if unroll(argv) != 0:
        raise SystemExit(f"unroll {' '.join(argv)} failed")
    loaded = run.load(out, "best")
    task, model, info = loaded
    return {"test_acc": round(task.metrics(model, str(test_tsv))["accuracy"], 4), "best_step": info["step"],
            "valid_acc": round(valid_accuracy(loaded.folder, info["step"]), 4),
            "seconds": round(time.time() - start, 1), "command": "unroll " + shlex.join(argv)}


def pretrain(out: Path, texts, extra_files, args) -> dict:
    """A word-level language model on the training folds' sentences and the extra text."""
    start = time.time()
    pieces = list(texts)
    for f in extra_files:
        for line in Path(f).read_text(encoding="utf-8", errors="replace").lower().splitlines():
            words = tokenize(line, "punct")
            if words:
                pieces.append(" ".join(words))
    text = out.parent / (out.name + ".txt")
    text.write_text("\n".join(pieces) + "\n", encoding="utf-8")
    argv = ["train", "--data", str(text), "--level", "word", "--tokenizer", "space",
            *lm_shape(shlex.split(args.finetune)), "--seq-len", "35", "--batch", "32",
            "--dropout", str(args.lm_dropout),
            *budget(args.lm_steps, args.lm_time), "--eval-every", "500", "--out", str(out), "--quiet"]
    if unroll(argv) != 0:
        raise SystemExit(f"unroll {' '.join(argv)} failed")
    _, _, info = run.load(out, "best")
    return {"lm_tokens_of_text": sum(len(p.split()) + 1 for p in pieces), "lm_step": info["step"],
            "seconds": round(time.time() - start, 1), "command": "unroll " + shlex.join(argv)}


def reused(lm: Path) -> dict:
    """The fold's language model of an earlier --pretrain run (``--lm-from``): where it is and its best step."""
    if not (lm / "config.json").exists():
        raise SystemExit(f"--lm-from: {lm} holds no run folder (give the --out of a --pretrain run of this fold)")
    return {"reused": str(lm), "lm_step": run.load(lm, "best").info["step"]}


def run_fold(texts, labels, k, folds, args) -> dict:
    test_idx = folds[k]
    train_idx = np.setdiff1d(np.arange(len(texts)), test_idx)
    work = Path(args.out) / f"fold{k}"
    work.mkdir(parents=True, exist_ok=True)
    train_tsv, test_tsv = work / "train.tsv", work / "test.tsv"
    write_tsv(train_tsv, [texts[i] for i in train_idx], labels[train_idx])
    write_tsv(test_tsv, [texts[i] for i in test_idx], labels[test_idx])
    limit = budget(args.steps or args.epochs * math.ceil(0.9 * len(train_idx) / 50), args.time)  # batch 50
    out = {"fold": k}
    if "nbsvm" in args.models:
        t = time.time()
        out["nbsvm"] = {"test_acc": round(nbsvm([texts[i] for i in train_idx], labels[train_idx],
                                                [texts[i] for i in test_idx], labels[test_idx]), 4),
                        "seconds": round(time.time() - t, 1)}
    if "scratch" in args.models:
        out["scratch"] = classify(work / "scratch", train_tsv, test_tsv, limit, shlex.split(args.flags))
    if "pretrained" in args.models:
        if args.lm_from:
            lm = Path(args.lm_from) / f"fold{k}" / "lm"
            out["lm"] = reused(lm)
        else:
            lm = work / "lm"
            out["lm"] = pretrain(lm, [texts[i] for i in train_idx], args.extra_text, args)
        out["pretrained"] = classify(work / "pretrained", train_tsv, test_tsv, limit,
                                     ["--init-from", str(lm), *shlex.split(args.finetune)])
    return out


PER_RUN = ("out", "json", "combine", "lm_from")   # settings that differ between the parts of one figure by design


def means_of(rows: list[dict], models) -> dict:
    return {m: round(float(np.mean([r[m]["test_acc"] for r in rows])), 4) for m in models}


def combine(files: list[Path], command: str) -> dict:
    """One result from the JSON of runs that each took some folds; the same shape as one run's file."""
    parts = [(f, json.loads(f.read_text(encoding="utf-8"))) for f in files]
    first = parts[0][1]
    same = {k: v for k, v in first["settings"].items() if k not in PER_RUN}
    rows, seen = [], set()
    for f, d in parts:
        mine = {k: v for k, v in d["settings"].items() if k not in PER_RUN}
        if mine != same:
            keys = sorted(k for k in same.keys() | mine.keys() if same.get(k) != mine.get(k))
            raise SystemExit(f"--combine: {f} was run with other settings than {files[0]} ({', '.join(keys)})")
        if d["machine"]["cpu"] != first["machine"]["cpu"]:
            raise SystemExit(f"--combine: {f} ran on {d['machine']['cpu']}, {files[0]} on {first['machine']['cpu']}")
        if seen & set(d["folds"]):
            raise SystemExit(f"--combine: {f} repeats fold(s) {sorted(seen & set(d['folds']))}")
        seen |= set(d["folds"])
        rows += d["rows"]
    rows.sort(key=lambda r: r["fold"])
    return {"date": max(d["date"] for _, d in parts), "machine": first["machine"], "command": command,
            "mean_test_acc": means_of(rows, same["models"]), "folds": [r["fold"] for r in rows],
            "seconds": round(sum(d["seconds"] for _, d in parts), 1), "settings": same,
            "parts": [{"file": f.name, "date": d["date"], "command": d["command"]} for f, d in parts],
            "rows": rows}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="?", help="folder holding rt-polarity.pos and rt-polarity.neg")
    p.add_argument("--combine", nargs="+", type=Path, default=None, metavar="JSON",
                   help="join these runs' --json files (each some of the folds) into one, written to --json")
    p.add_argument("--folds", type=int, nargs="*", default=list(range(10)))
    p.add_argument("--models", nargs="*", default=["nbsvm", "scratch"], choices=MODELS,
                   help="which models (default nbsvm scratch; none: only write the folds' TSV files)")
    p.add_argument("--pretrain", action="store_true", help="also the pretrained model: a language model on the "
                                                           "training folds' text, then --init-from it")
    p.add_argument("--epochs", type=int, default=8, help="passes over the training part (sets --max-steps)")
    p.add_argument("--time", type=float, default=None, help="seconds per classifier (--max-time) instead of --epochs")
    p.add_argument("--lm-time", type=float, default=None, help="seconds for the language model instead of --lm-steps")
    p.add_argument("--steps", type=int, default=None, help="classifier steps instead of --epochs (a smoke test)")
    p.add_argument("--flags", default="", help="flags added to the from-scratch classifier's command (experiments "
                                               "on the defaults: '--schedule cosine --lr 0.002')")
    p.add_argument("--extra-text", nargs="*", default=[], help="public-domain text for the language model")
    p.add_argument("--lm-from", default=None, metavar="OUT",
                   help="reuse the language models of an earlier --pretrain run (its --out: OUT/foldK/lm) instead "
                        "of training them, so classifier variants are compared on the same language models")
    p.add_argument("--lm-steps", type=int, default=6000)
    p.add_argument("--lm-dropout", type=float, default=0.3)
    p.add_argument("--finetune", default="--unfreeze-every 1 --lr-layer-decay 0.5",
                   help="flags added to the pretrained classifier's command")
    p.add_argument("--out", default="runs/sentiment", help="work folder (run folders, TSV files)")
    p.add_argument("--json", type=Path, default=None, help="write the folds, the means, the date, machine and command here")
    args = p.parse_args(argv)
    if args.combine:
        if not args.json:
            p.error("--combine needs --json (where the joined result goes)")
        given = [a for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("--")
                 and a.split("=", 1)[0] not in ("--combine", "--json")]
        if args.data or given:
            p.error(f"--combine takes only the files and --json, not {args.data or given[0]}")
        summary = combine(args.combine, "python benchmarks/sentiment.py " + shlex.join(sys.argv[1:] if argv is None else argv))
        args.json.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        return summary
    if args.data is None:
        p.error("the data folder is needed (or --combine)")
    if args.pretrain and "pretrained" not in args.models:
        args.models = [*args.models, "pretrained"]
    folder = Path(args.data)
    examples = read_class_files([folder / "rt-polarity.pos", folder / "rt-polarity.neg"], encoding="latin-1")
    texts = [t for _, t in examples]
    labels = np.array([1 if c == "pos" else 0 for c, _ in examples])
    folds = folds_of(len(texts))
    start, rows = time.time(), []
    for k in args.folds:
        rows.append(run_fold(texts, labels, k, folds, args))
        print(json.dumps(rows[-1]), flush=True)
    summary = {"mean_test_acc": means_of(rows, args.models), "folds": args.folds, "seconds": round(time.time() - start, 1),
               "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                            if k not in ("data", "folds", "combine")}}
    print(json.dumps(summary), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(provenance() | summary | {"rows": rows}, indent=1) + "\n", encoding="utf-8")
    return summary


if __name__ == "__main__":
    main()
