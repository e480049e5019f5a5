"""Sentence polarity (Pang & Lee's rt-polarity, 10,662 sentences): 10-fold cross-validation accuracy of
a SequenceClassifier with randomly initialised word embeddings, as Kim (2014) reports it (CNN-rand 76.1,
NBSVM 79.4; the issue's target is a mean of at least 77%).

    python benchmarks/sentiment.py ../shared/data/rt-polarity                 # all 10 folds
    python benchmarks/sentiment.py ../shared/data/rt-polarity --folds 0 1 2   # a subset, same split

Folds: the sentences (positives then negatives, as read) are shuffled once with seed 0 and dealt into 10
folds; fold k is the test part of round k. In each round the vocabulary (the "space" tokenizer: the data
are lower-cased and pre-tokenised) is counted on the 9 training folds, 10% of those are held out to pick
the epoch, and the test fold is scored once with the chosen epoch's weights. Prints one JSON line per fold
and a summary line (mean accuracy over the folds run, seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from unroll.data.buckets import BucketBatches, eval_order, pad  # noqa: E402
from unroll.data.labelled import read_class_files  # noqa: E402
from unroll.data.vocab import WordVocab  # noqa: E402
from unroll.models.classifier import ClassifyBatch, SequenceClassifier  # noqa: E402
from unroll.train.optim import Adam, clip_grad_norm  # noqa: E402


def folds_of(n: int, k: int = 10, seed: int = 0) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


def accuracy(model, seqs, labels, batch_size=256) -> float:
    hits = 0
    for index in eval_order([len(s) for s in seqs], batch_size):
        ids, mask = pad([seqs[i] for i in index])
        hits += int((model.predict_proba(ids, mask).argmax(axis=1) == labels[index]).sum())
    return hits / len(seqs)


def run_fold(texts, labels, test_idx, args) -> dict:
    start = time.time()
    train_idx = np.setdiff1d(np.arange(len(texts)), test_idx)
    rng = np.random.default_rng(args.seed)
    train_idx = rng.permutation(train_idx)
    cut = len(train_idx) // 10
    dev_idx, fit_idx = train_idx[:cut], train_idx[cut:]
    vocab = WordVocab.from_text("\n".join(texts[i] for i in fit_idx), min_count=args.min_count, tokenizer="space")
    encode = lambda i: vocab.encode(texts[i]) if texts[i].split() else np.zeros(1, np.int32)  # noqa: E731
    seqs = [encode(i) for i in range(len(texts))]
    model = SequenceClassifier(len(vocab), 2, hidden_size=args.hidden, embedding_size=args.embed, cell=args.cell,
                               bidirectional=True, readout=args.readout, dropout=args.dropout, seed=args.seed,
                               embedding_dropout=args.embed_dropout)
    opt = Adam(model.params, lr=args.lr)
    batches = BucketBatches([len(seqs[i]) for i in fit_idx], args.batch, seed=args.seed)
    best, best_params, history = -1.0, None, []
    for epoch in range(args.epochs):
        for _ in range(batches.batches_per_epoch):
            rows = fit_idx[next(batches)]
            ids, mask = pad([seqs[i] for i in rows])
            _, grads, _ = model.loss_and_grads(ClassifyBatch(ids, mask, labels[rows]))
            clip_grad_norm(grads, args.clip)
            opt.step(grads)
        dev = accuracy(model, [seqs[i] for i in dev_idx], labels[dev_idx])
        history.append(round(dev, 4))
        if dev > best:
            best, best_params = dev, {k: v.copy() for k, v in model.params.items()}
    model.params.update(best_params)
    test = accuracy(model, [seqs[i] for i in test_idx], labels[test_idx])
    return {"test_acc": round(test, 4), "dev_acc_by_epoch": history, "vocab": len(vocab),
            "seconds": round(time.time() - start, 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="folder holding rt-polarity.pos and rt-polarity.neg")
    p.add_argument("--folds", type=int, nargs="*", default=list(range(10)))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--embed", type=int, default=128)
    p.add_argument("--cell", default="gru")
    p.add_argument("--readout", default="max")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--embed-dropout", type=float, default=0.3)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--min-count", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    folder = Path(args.data)
    examples = read_class_files([folder / "rt-polarity.pos", folder / "rt-polarity.neg"], encoding="latin-1")
    texts = [t for _, t in examples]
    labels = np.array([0 if c == "pos" else 1 for c, _ in examples])
    folds = folds_of(len(texts))
    start, scores = time.time(), []
    for k in args.folds:
        result = run_fold(texts, labels, folds[k], args) | {"fold": k}
        scores.append(result["test_acc"])
        print(json.dumps(result), flush=True)
    print(json.dumps({"mean_test_acc": round(float(np.mean(scores)), 4), "folds": args.folds,
                      "seconds": round(time.time() - start, 1),
                      "settings": {k: v for k, v in vars(args).items() if k not in ("data", "folds")}}), flush=True)


if __name__ == "__main__":
    main()
