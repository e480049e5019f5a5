"""The vocabulary: text <-> integer ids, at the character level and at the word level.

One class, ``Vocab`` (tokens, level, tokenizer, declared special tokens), of which the three vocabularies
of the tasks are configurations (``CharVocab``, ``WordVocab``, ``PairVocab`` build them):

==========  =====  =========  ===========================  ==============================================
name        level  tokenizer  specials (ids 0..S-1)        unknown token when encoding
==========  =====  =========  ===========================  ==============================================
CharVocab   char   --         none                         an error naming it and its position
WordVocab   word   punct ...  ``<unk>``                    ``<unk>`` (id 0)
PairVocab   char   --         ``<pad> <bos> <eos>``        an error naming it and its position
            word   space
==========  =====  =========  ===========================  ==============================================

Tokens come from the one ``tokens_of(text, level, tokenizer)``: a character level token is one code point,
a word level token one of ``tokenize``'s (below). A declared special is never read from text (except the
unknown token itself), and ``decode`` leaves out every special but ``<unk>``. Each configuration keeps the
JSON form that run folders already store (``{"kind": "char"}``, ``{"kind": "word", "tokenizer"}``,
``{"level"}``); ``vocab_from_json`` reads all three.

``CharVocab`` maps Unicode code points (any script, never UTF-8 bytes) to ids 0..V-1, in sorted order,
as the seeds' character-level model does ("hello" -> [h, e, l, o]). A character outside the vocabulary
is an error that names it and its position (a ``--prime`` text the model cannot read).

``WordVocab`` is the seeds' word-level vocabulary; its tokenizers (``punct``, ``space``, ``exact``) and
their rules are in ``data.tokens``.

Word ids: ``"<unk>"`` is always present with id 0; the other tokens follow by descending frequency,
ties in alphabetical (code point) order. Tokens seen fewer than ``min_count`` times map to ``"<unk>"``,
and so do unknown words when encoding. Pair ids: the three specials, then the tokens seen, sorted.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from unroll.data.tokens import (CLOSERS, LEVELS, OPENERS, TOKENIZERS, UNK, _check_tokenizer,  # noqa: F401
                                detokenize, tokenize, tokens_of)

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
PAIR_SPECIALS = (PAD, BOS, EOS)
PAIR_TOKENIZER = "space"                 # a pair side's words are white-space separated



class UnknownToken(ValueError):
    """A token (character, word) outside a vocabulary that has no <unk>: readers may skip it and say so."""


def drop_unknown(text: str, known) -> tuple[str, dict]:
    """(``text`` without the characters not in ``known``, {dropped character: count})."""
    missing = set(text) - set(known)
    if not missing:
        return text, {}
    return text.translate({ord(c): None for c in missing}), {c: text.count(c) for c in sorted(missing)}


def where_first(text: str, chars) -> str:
    """'line L, column C' (1-based) of the first of ``chars`` in ``text``."""
    i = min(text.index(c) for c in chars)
    line = text.count("\n", 0, i) + 1
    return f"line {line}, column {i - (text.rfind(chr(10), 0, i) + 1) + 1}"


class Vocab:
    """Tokens <-> ids 0..V-1, the declared ``specials`` first.

    tokens: every token, specials first; level: "char" | "word"; tokenizer: the word tokenizer (None at the
    char level); specials: declared special tokens; unk: the special that unknown tokens map to, or None
    (an unknown token is an ``UnknownToken`` error naming it and its position); kind: the configuration's
    name ("char", "word", "pair"), which picks the JSON form.
    """

    def __init__(self, tokens, level: str = "char", tokenizer: str | None = None, specials=(), unk=None,
                 kind: str = "char"):
        tokens, specials = list(tokens), tuple(specials)
        if not tokens:
            raise ValueError(f"a {_NAMES[kind]} needs at least one {'character' if kind == 'char' else 'token'}")
        if tuple(tokens[:len(specials)]) != specials:
            raise ValueError(f"a {_NAMES[kind]}'s first token{'s' if len(specials) > 1 else ''} must be "
                             f"{', '.join(map(repr, specials))}, got {tokens[:len(specials)]}")
        for t in tokens:
            if not isinstance(t, str) or not t or (level == "char" and t not in specials and len(t) != 1):
                what = "single characters" if level == "char" else "non-empty strings"
                raise ValueError(f"{_NAMES[kind]} entries must be {what}, got {t!r}")
        if len(set(tokens)) != len(tokens):
            dup = next(t for t in tokens if tokens.count(t) > 1)
            what = "character" if kind == "char" else "token"
            raise ValueError(f"{what} {dup!r} appears twice in the {_NAMES[kind]}")
        tokens_of("", level)
        self.level, self.kind, self.specials, self.unk = level, kind, specials, unk
        self.tokenizer = _check_tokenizer(tokenizer) if level == "word" else tokenizer
        self._itos = tuple(tokens)
        self._stoi = {t: i for i, t in enumerate(tokens)}
        self.unk_id = None if unk is None else self._stoi[unk]
        self._unknown = {self._stoi[t] for t in specials if t != unk}      # ids no text encodes to
        codes = np.array([ord(c) if len(c) == 1 else -1 for c in tokens], dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        self._sorted_codes, self._sorted_ids = codes[order], order.astype(np.int32)

    def tokenize(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        return tokens_of(text, self.level, self.tokenizer or "punct")

    def detokenize(self, tokens) -> str:
        return "".join(tokens) if self.level == "char" else detokenize(tokens, self.tokenizer)

    def encode(self, text: str) -> np.ndarray:
        """text -> int32 ids (L,) of its L tokens; unknown tokens -> ``unk_id``, or an error when there is none."""
        if self.level == "char" and not self.specials:
            return self._encode_chars(text)
        toks = self.tokenize(text)
        get, unk = self._stoi.get, -1 if self.unk_id is None else self.unk_id
        ids = np.fromiter((get(t, unk) for t in toks), dtype=np.int32, count=len(toks))
        bad = (ids < 0) | np.isin(ids, list(self._unknown))
        if bad.any():
            i = int(np.argmax(bad))
            raise UnknownToken(f"{'character' if self.level == 'char' else 'word'} {toks[i]!r} at position {i} is "
                               f"not in the vocabulary of {len(self)} tokens")
        return ids

    def _encode_chars(self, text: str) -> np.ndarray:
        """The char configuration's fast path: code points looked up in the sorted codes."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64)
        pos = np.minimum(np.searchsorted(self._sorted_codes, codes), len(self) - 1)
        known = self._sorted_codes[pos] == codes
        if not known.all():
            i = int(np.argmin(known))
            raise UnknownToken(f"character {text[i]!r} at position {i} is not in the vocabulary "
                               f"of {len(self)} characters")
        return self._sorted_ids[pos]

    def decode(self, ids) -> str:
        """int ids (L,) -> text, leaving out the specials other than ``unk`` (see ``detokenize`` for spacing)."""
        ids = _check_ids(ids, len(self)).tolist()
        return self.detokenize(self._itos[i] for i in ids if i not in self._unknown)

    def index(self, token: str) -> int:
        if token not in self._stoi:
            raise ValueError(f"{'character' if self.kind == 'char' else 'token'} {token!r} is not in the vocabulary "
                             f"of {len(self)} {'characters' if self.kind == 'char' else 'tokens'}")
        return self._stoi[token]

    @property
    def tokens(self) -> tuple[str, ...]:
        return self._itos

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token) -> bool:
        return token in self._stoi

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"{_NAMES[self.kind]}({len(self)} tokens, level={self.level!r}, tokenizer={self.tokenizer!r})"

    def to_json(self) -> dict:
        """The configuration's JSON form, the one run folders store."""
        if self.kind == "pair":
            return {"level": self.level, "tokens": list(self._itos)}
        extra = {"tokenizer": self.tokenizer} if self.kind == "word" else {}
        return {"kind": self.kind, **extra, "tokens": list(self._itos)}

    @classmethod
    def from_json(cls, d: dict) -> Vocab:
        return vocab_from_json(d)


class CharVocab(Vocab):
    """The char configuration: characters (Unicode code points) <-> ids 0..V-1, no specials."""

    def __init__(self, chars):
        super().__init__(chars, "char", kind="char")

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The sorted set of the text's characters (deterministic)."""
        if not isinstance(text, str) or not text:
            raise ValueError("cannot build a CharVocab from an empty text")
        return cls(sorted(set(text)))

    @classmethod
    def from_json(cls, d: dict) -> CharVocab:
        return cls(_json_tokens(d, "char"))


class WordVocab(Vocab):
    """The word configuration: word, punctuation and ``"\\n"`` tokens <-> ids 0..V-1, with ``"<unk>"`` = 0."""

    def __init__(self, tokens, tokenizer: str = "punct"):
        super().__init__(tokens, "word", tokenizer, (UNK,), UNK, kind="word")

    @classmethod
    def from_text(cls, text: str, min_count: int = 1, tokenizer: str = "punct") -> WordVocab:
        """Count the tokens of ``text``; keep those seen at least ``min_count`` times."""
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
        counts = Counter(tokenize(text, tokenizer))
        if not counts:
            raise ValueError("cannot build a WordVocab from a text with no tokens")
        return cls.from_counts(counts, min_count, tokenizer)

    @classmethod
    def from_counts(cls, counts: Counter, min_count: int = 1, tokenizer: str = "punct") -> WordVocab:
        """<unk>, then the tokens seen at least ``min_count`` times by descending count, ties by code point."""
        kept = sorted((t for t, c in counts.items() if c >= min_count and t != UNK), key=lambda t: (-counts[t], t))
        return cls([UNK] + kept, tokenizer)

    @classmethod
    def from_json(cls, d: dict) -> WordVocab:
        return cls(_json_tokens(d, "word"), d.get("tokenizer", "punct"))


class PairVocab(Vocab):
    """The pair configuration (an encoder-decoder's side): <pad> = 0, <bos> = 1, <eos> = 2, then the tokens;
    words are white-space separated (the ``"space"`` tokenizer)."""

    pad_id, bos_id, eos_id = 0, 1, 2

    def __init__(self, tokens, level: str = "char"):
        super().__init__(tokens, level, PAIR_TOKENIZER if level == "word" else None, PAIR_SPECIALS, kind="pair")

    @classmethod
    def build(cls, texts, level: str = "char") -> PairVocab:
        seen = {tok for text in texts for tok in tokens_of(text, level, PAIR_TOKENIZER)} - set(PAIR_SPECIALS)
        return cls(list(PAIR_SPECIALS) + sorted(seen), level)

    @classmethod
    def from_json(cls, d: dict) -> PairVocab:
        return cls(d["tokens"], d["level"])


_NAMES = {"char": "CharVocab", "word": "WordVocab", "pair": "PairVocab"}
VOCABS = {"char": CharVocab, "word": WordVocab}   # the language model's vocabulary levels, by name


def vocab_from_json(d: dict) -> Vocab:
    """Rebuild a vocabulary from its ``to_json()`` dict: ``{"kind": "char" | "word", ...}`` or a pair
    vocabulary's ``{"level", "tokens"}``."""
    if isinstance(d, dict) and "kind" not in d and "level" in d and "tokens" in d:
        return PairVocab.from_json(d)
    if not isinstance(d, dict) or d.get("kind") not in VOCABS:
        raise ValueError(f"vocabulary JSON must have kind 'char' or 'word', got {_kind_of(d)!r}")
    return VOCABS[d["kind"]].from_json(d)


# ----------------------------------------------------------------------------------------------------

def _check_ids(ids, V: int) -> np.ndarray:
    """Ids as a flat integer array, each in [0, V)."""
    ids = np.asarray(ids)
    if ids.size == 0:
        return ids.reshape(0).astype(np.int64)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
    ids = ids.reshape(-1)
    bad = (ids < 0) | (ids >= V)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"ids must lie in [0, V) = [0, {V}), got {ids[i]} at position {i}")
    return ids


def _kind_of(d):
    return d.get("kind") if isinstance(d, dict) else type(d).__name__


def _json_tokens(d: dict, kind: str) -> list:
    if not isinstance(d, dict) or d.get("kind") != kind:
        raise ValueError(f"vocabulary JSON must have kind {kind!r}, got {_kind_of(d)!r}")
    if not isinstance(d.get("tokens"), list):
        raise ValueError("vocabulary JSON must have a 'tokens' list")
    return d["tokens"]
