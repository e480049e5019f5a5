"""Metrics of predicted sequences against references: exact match, character error rate, corpus BLEU.

- exact match: the fraction of predictions equal to their reference string.
- character error rate: Σ Levenshtein(prediction, reference) / Σ len(reference), over characters
  (insertions, deletions and substitutions cost 1 each).
- corpus BLEU: sacrebleu's corpus_bleu at word level (its default 13a tokenizer), 0..100; sacrebleu is
  an optional dependency (``pip install 'unroll[data]'``), imported when used.
"""

from __future__ import annotations

import numpy as np


def exact_match(predictions, references) -> float:
    _same_length(predictions, references)
    return float(np.mean([p == r for p, r in zip(predictions, references)]))


def levenshtein(a: str, b: str) -> int:
    """Edit distance by the row-by-row dynamic programme (O(len(a)·len(b)) time, O(len(b)) memory)."""
    prev = np.arange(len(b) + 1)
    for i, ca in enumerate(a, 1):
        cur = np.empty_like(prev)
        cur[0] = i
        sub = prev[:-1] + (np.array(list(b)) != ca) if b else prev[:-1]
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, sub[j - 1])
        prev = cur
    return int(prev[-1])


def char_error_rate(predictions, references) -> float:
    _same_length(predictions, references)
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("references hold no characters: the character error rate is undefined")
    return sum(levenshtein(p, r) for p, r in zip(predictions, references)) / total


def corpus_bleu(predictions, references) -> float:
    import sacrebleu
    _same_length(predictions, references)
    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)


def all_metrics(predictions, references) -> dict:
    return {"exact_match": exact_match(predictions, references),
            "char_error_rate": char_error_rate(predictions, references),
            "bleu": corpus_bleu(predictions, references)}


def _same_length(predictions, references):
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not len(references):
        raise ValueError("no references to score against")
