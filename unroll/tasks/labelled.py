"""What the classify, tag and generate tasks share: token vocabularies over labelled examples, the
held-out split, masked batches in length buckets, and the settings every one of them has."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

from unroll.data.buckets import BucketBatches, eval_order, pad
from unroll.data.vocab import LEVELS, WordVocab, tokens_of, vocab_from_json  # noqa: F401 (tasks read LEVELS, tokens_of here)


def check_settings(config, *positive: str) -> None:
    """A task's settings: the named int fields >= 1, floats finite, dropouts in [0, 1); messages name the flag."""
    from unroll.config import check_finite, check_positive, flag_of
    check_positive(config, *positive)
    check_finite(config)
    for name in ("dropout", "embedding_dropout", "valid_fraction"):
        value = getattr(config, name, None)
        low_ok = value is None or (value > 0 if name == "valid_fraction" else value >= 0)
        if value is not None and not (low_ok and value < 1):
            interval = "(0, 1)" if name == "valid_fraction" else "[0, 1)"
            raise ValueError(f"{flag_of(config, name)} must lie in {interval}, got {value}")


def some(names, shown: int = 10) -> str:
    """'a, b, c' of the first ``shown`` names and how many more (an error line stays short)."""
    names = list(names)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(map(str, names[:shown])) + more


def build_vocab(token_lists, min_count: int = 1, tokenizer: str = "punct") -> WordVocab:
    """Tokens (words or characters) of the training examples -> a WordVocab: id 0 = <unk>, then by frequency."""
    vocab = WordVocab.from_counts(Counter(t for tokens in token_lists for t in tokens), min_count, tokenizer)
    if len(vocab) == 1:
        raise ValueError("the training examples hold no token seen at least min_count times")
    return vocab


def encode(stoi: dict, tokens) -> np.ndarray:
    """Token ids (L,) of a token list under ``stoi`` = {token: id}; unknown tokens -> 0 (<unk>)."""
    get = stoi.get
    return np.fromiter((get(t, 0) for t in tokens), np.int64, len(tokens))


def load_vocab(d: dict):
    return vocab_from_json(d)


def split_indices(n: int, valid_fraction: float, seed: int = 0, source: str = "",
                  unit: str = "examples") -> tuple[np.ndarray, np.ndarray]:
    """A fixed random held-out part: (train indices, valid indices), both sorted; ``source`` and ``unit``
    name the data in the error when it is too small to split ("--data F", "CoNLL sequences")."""
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must lie in (0, 1), got {valid_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    cut = max(1, int(round(n * valid_fraction)))
    if cut >= n:
        unit = unit[:-1] if n == 1 and unit.endswith("s") else unit
        where = f"{source} holds {n} {unit}" if source else f"{n} {unit} {'is' if n == 1 else 'are'}"
        hint = " (blank lines separate CoNLL sequences: are there none?)" if "CoNLL" in unit else ""
        raise ValueError(f"{where}: too few to hold out {valid_fraction:.0%} for validation{hint}; give more, "
                         "or a --valid file")
    return np.sort(perm[cut:]), np.sort(perm[:cut])


def data_files(spec: str) -> list[Path]:
    """The files a --data value names: one file, a comma-separated list, or every file of a folder."""
    path = Path(spec)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file())
    return [Path(p) for p in spec.split(",") if p]


def file_digest(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()


def check_digest(prepared: dict, paths, flag: str = "--data") -> None:
    """A resumed run reads the data it started with: the files' SHA-256 against the one prepare() stored
    (runs written before it was stored have none and are not checked)."""
    stored = prepared.get("data_sha256")
    if stored is not None and file_digest(paths) != stored:
        names = ", ".join(str(p) for p in paths)
        raise ValueError(f"{flag} {names} changed since the run started (SHA-256 differs); train on it in a new "
                         "run folder")


def batches(lengths, batch_size: int, seed: int, make) -> BucketBatches:
    return BucketBatches(lengths, batch_size, seed=seed, make=make)


def in_eval_batches(seqs, batch_size: int = 128):
    """(index array, ids (T, N), mask (T, N)) covering every sequence once, by length."""
    for index in eval_order([len(s) for s in seqs], batch_size):
        ids, mask = pad([seqs[i] for i in index])
        yield index, ids, mask


def check_length(where: str, n: int, max_trained: int, factor: int = 10) -> None:
    if n > factor * max_trained:
        raise ValueError(f"{where}: {n} tokens is far beyond the longest training sequence ({max_trained}); "
                         f"split it (at most {factor * max_trained})")
