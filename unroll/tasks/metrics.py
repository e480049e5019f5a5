"""Scores of labelled predictions: accuracy, per-class precision / recall / F1, the confusion matrix;
token accuracy and BIO span F1 for taggers; boundary and word F1 for word segmentation.

Conventions: F1 = 2PR / (P + R), and 0 when P + R = 0; a precision with nothing predicted is 0 (and the
recall with nothing to find is 0). Confusion matrix rows are the true classes, columns the predicted ones.

BIO spans follow conlleval: a span starts at ``B-X``, or at ``I-X`` that does not continue a span of
type X; it ends before the next tag that does not continue it (``O``, ``B-*``, or ``I-Y``, Y ≠ X).

Word segmentation tags each character ``B`` (a word starts here) or ``I``. The boundary F1 scores the
positions of ``B`` after the first character of each sequence (the first is a start by definition, and
counting it would reward nothing); the word F1 scores whole words as (start, end) spans.
"""

from __future__ import annotations

import numpy as np


def f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _prf(hits: int, predicted: int, actual: int) -> dict:
    p = hits / predicted if predicted else 0.0
    r = hits / actual if actual else 0.0
    return {"precision": p, "recall": r, "f1": f1(p, r)}


def accuracy(predicted, gold) -> float:
    predicted, gold = np.asarray(predicted), np.asarray(gold)
    if predicted.shape != gold.shape or predicted.size == 0:
        raise ValueError(f"predicted and gold must have the same non-empty shape, got {predicted.shape}, {gold.shape}")
    return float(np.mean(predicted == gold))


def confusion_matrix(predicted, gold, num_classes: int) -> np.ndarray:
    """int (C, C): entry [i, j] counts examples of true class i predicted as j."""
    out = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(out, (np.asarray(gold), np.asarray(predicted)), 1)
    return out


def per_class(predicted, gold, labels) -> dict:
    """{label: {precision, recall, f1, support}} for class ids 0..C-1 named by ``labels``; plus macro_f1."""
    cm = confusion_matrix(predicted, gold, len(labels))
    out = {}
    for i, name in enumerate(labels):
        out[name] = _prf(int(cm[i, i]), int(cm[:, i].sum()), int(cm[i].sum())) | {"support": int(cm[i].sum())}
    return out


def macro_f1(predicted, gold, labels) -> float:
    return float(np.mean([s["f1"] for s in per_class(predicted, gold, labels).values()]))


def token_accuracy(predicted_seqs, gold_seqs) -> float:
    """Share of tokens tagged right over all sequences (lists of tags of equal lengths)."""
    hits = total = 0
    for p, g in zip(predicted_seqs, gold_seqs, strict=True):
        if len(p) != len(g):
            raise ValueError(f"a predicted sequence has {len(p)} tags, its gold one {len(g)}")
        hits += sum(a == b for a, b in zip(p, g))
        total += len(g)
    return hits / total if total else 0.0


def bio_spans(tags) -> set[tuple[int, int, str]]:
    """{(start, end exclusive, type)} of a BIO tag sequence (conlleval's rules, see the module docstring)."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, name = tag.partition("-")
        continues = prefix == "I" and kind == name and start is not None
        if start is not None and not continues:
            spans.add((start, i, kind))
            start, kind = None, None
        if prefix in ("B", "I") and not continues:
            start, kind = i, name
    return spans


def span_f1(predicted_seqs, gold_seqs) -> dict:
    """Micro precision / recall / F1 of BIO spans (exact start, end and type) over all sequences."""
    hits = predicted = actual = 0
    for p, g in zip(predicted_seqs, gold_seqs, strict=True):
        ps, gs = bio_spans(p), bio_spans(g)
        hits, predicted, actual = hits + len(ps & gs), predicted + len(ps), actual + len(gs)
    return _prf(hits, predicted, actual)


def boundary_f1(predicted_seqs, gold_seqs) -> dict:
    """Precision / recall / F1 of word starts ("B") after each sequence's first character."""
    hits = predicted = actual = 0
    for p, g in zip(predicted_seqs, gold_seqs, strict=True):
        ps = {i for i, t in enumerate(p) if t == "B" and i > 0}
        gs = {i for i, t in enumerate(g) if t == "B" and i > 0}
        hits, predicted, actual = hits + len(ps & gs), predicted + len(ps), actual + len(gs)
    return _prf(hits, predicted, actual)


def word_spans(tags) -> set[tuple[int, int]]:
    """{(start, end exclusive)} of the words of a B/I sequence (the first character always starts one)."""
    starts = [0] + [i for i, t in enumerate(tags) if t == "B" and i > 0]
    return set(zip(starts, starts[1:] + [len(tags)]))


def word_f1(predicted_seqs, gold_seqs) -> dict:
    """Precision / recall / F1 of whole words (exact start and end)."""
    hits = predicted = actual = 0
    for p, g in zip(predicted_seqs, gold_seqs, strict=True):
        ps, gs = word_spans(p), word_spans(g)
        hits, predicted, actual = hits + len(ps & gs), predicted + len(ps), actual + len(gs)
    return _prf(hits, predicted, actual)
