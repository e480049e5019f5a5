"""Pairs of sequences for encoder-decoders: the TSV format, vocabularies with BOS/EOS, and batches.

File format: one pair per line, ``source<TAB>target`` (the Tatoeba/Anki format that d2l and the PyTorch
tutorial use; columns after the second, such as Anki's attribution, are ignored), read by ``data.columns``
with its rules for blank lines and extra tabs. A line without a tab, or with an empty source or target, is an
error ``path:LINE: ...``.

Tokens are characters (``level="char"``) or white-space separated words (``level="word"``). A
``PairVocab`` (the pair configuration of ``data.vocab.Vocab``) holds ``<pad>`` = 0, ``<bos>`` = 1,
``<eos>`` = 2, then the tokens seen in training in sorted order. A batch is time-major: sources ``(T, N)``
padded with 0 and their mask; the decoder's inputs ``<bos> y_1 .. y_U`` and targets ``y_1 .. y_U <eos>``
``(U+1, N)`` with the target mask. Training batches come from the one bucket batcher (``PairBatches``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from unroll.data import vocab
from unroll.data.buckets import BucketBatches
from unroll.data.columns import NOT_CONLL, lines_of, records
from unroll.data.text import read_text
from unroll.data.vocab import PAIR_TOKENIZER, PairVocab


class PairBatch(NamedTuple):
    src: np.ndarray         # int (T, N) source ids, 0 on padding
    src_mask: np.ndarray    # (T, N) 1 on real source steps
    tgt_in: np.ndarray      # int (U, N) <bos> y_1 .. (the decoder's inputs under teacher forcing)
    tgt_out: np.ndarray     # int (U, N) y_1 .. <eos> (the targets)
    tgt_mask: np.ndarray    # (U, N) 1 on real target tokens (EOS included)


def parse_pairs(text: str, name: str = "<text>") -> list[tuple[str, str]]:
    """``source<TAB>target`` lines -> pairs (the column rules of ``data.columns``); errors are ``name:LINE: ...``."""
    found = records(lines_of(text), name, ("source", "target"), hint=NOT_CONLL)
    return [(fields[0], fields[1]) for _, fields in found]


def read_pairs(path, encoding: str = "utf-8", flag: str | None = None) -> list[tuple[str, str]]:
    """Read a TSV file of pairs, UTF-8 or ``encoding`` (see ``parse_pairs``)."""
    return parse_pairs(read_text(path, encoding, flag), f"{flag} {path}" if flag else str(path))


def write_pairs(path, pairs) -> None:
    """Write pairs as TSV, one per line (tabs and newlines inside a side are not allowed)."""
    for i, (s, t) in enumerate(pairs, 1):
        if any(c in s + t for c in "\t\n"):
            raise ValueError(f"pair {i} holds a tab or a newline, which TSV cannot store")
    Path(path).write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")


def tokens_of(text: str, level: str) -> list[str]:
    """A pair side's tokens: ``vocab.tokens_of`` with the pair configuration's word tokenizer (white space)."""
    return vocab.tokens_of(text, level, PAIR_TOKENIZER)


def detokenize(tokens, level: str) -> str:
    return ("" if level == "char" else " ").join(tokens)


def encode_pairs(pairs, src_vocab: PairVocab, tgt_vocab: PairVocab, name: str = "pairs"):
    """pairs of strings -> pairs of id arrays; errors are ``name:LINE: ...`` (the pair's line, from 1)."""
    out = []
    for i, (s, t) in enumerate(pairs, 1):
        try:
            out.append((src_vocab.encode(s), tgt_vocab.encode(t)))
        except ValueError as err:
            raise ValueError(f"{name}:{i}: {err}") from None
    return out


def make_batch(pairs_ids, dtype=np.float32) -> PairBatch:
    """[(src ids, tgt ids), ...] -> a padded, time-major PairBatch; a source of vectors (T_n, D) -> src (T, N, D)."""
    N = len(pairs_ids)
    T = max(len(s) for s, _ in pairs_ids)
    U = max(len(t) for _, t in pairs_ids) + 1
    first = np.asarray(pairs_ids[0][0])                      # token ids, or real vectors (T_n, D)
    src = np.zeros((T, N), np.int64) if first.ndim < 2 else np.zeros((T, N, first.shape[1]), dtype)
    tgt_in, tgt_out = np.zeros((U, N), np.int64), np.zeros((U, N), np.int64)
    src_mask, tgt_mask = np.zeros((T, N), dtype), np.zeros((U, N), dtype)
    for n, (s, t) in enumerate(pairs_ids):
        src[:len(s), n], src_mask[:len(s), n] = s, 1
        tgt_in[:len(t) + 1, n] = [PairVocab.bos_id] + list(t)
        tgt_out[:len(t) + 1, n] = list(t) + [PairVocab.eos_id]
        tgt_mask[:len(t) + 1, n] = 1
    return PairBatch(src, src_mask, tgt_in, tgt_out, tgt_mask)


POOL = 20                                           # batches per length-sorting pool


def PairBatches(pairs_ids, batch_size: int, rng: np.random.Generator, dtype=np.float32) -> BucketBatches:
    """Endless epochs of pair batches: the one bucket batcher (``data.buckets.BucketBatches``) over the source
    lengths, pools of 20 batches, seeded by one draw from ``rng``; resumable exactly (its state is the epoch
    and the position in it) and ``drawn`` counts the batches handed out (scheduled sampling reads it)."""
    if not pairs_ids:
        raise ValueError("no training pairs")
    return BucketBatches([len(s) for s, _ in pairs_ids], batch_size, seed=int(rng.integers(2 ** 31)), pool=POOL,
                         make=lambda index: make_batch([pairs_ids[i] for i in index], dtype))


def batches(pairs_ids, batch_size: int, rng: np.random.Generator, dtype=np.float32) -> Iterator[PairBatch]:
    """One epoch of batches (see ``PairBatches``)."""
    endless = PairBatches(pairs_ids, batch_size, rng, dtype)
    for _ in range(endless.batches_per_epoch):
        yield next(endless)
