"""Vocabularies: text <-> integer ids, at the character level and at the word level.

``CharVocab`` maps Unicode code points (any script, never UTF-8 bytes) to ids 0..V-1, in sorted order,
as the seeds' character-level model does ("hello" -> [h, e, l, o]). A character outside the vocabulary
is an error that names it and its position (a ``--prime`` text the model cannot read).

``WordVocab`` is the seeds' word-level vocabulary, "including all punctuation - commas, '\\n', ...".
Its tokenizer is one of:

- ``"punct"`` (default): a *word* is a run of word characters, which may hold single inner apostrophes
  or hyphens (``don't``, ``after-dinner``); word characters are everything except white space and
  punctuation: ASCII punctuation except ``_``, the Latin-1 signs (``¡ « ° · » ¿ × ÷`` ...), General
  Punctuation U+2010-U+205E (dashes, curly quotes, ``…``), CJK punctuation (``、。「」``) and full-width
  forms (``，！？（）``). Every punctuation mark is a token of its own, every
  ``"\\n"`` is a ``"\\n"`` token, ``"<unk>"`` is one token, and all other white space separates tokens.
  Scripts written without spaces (Chinese) give one token per run; use a ``CharVocab`` for those.
- ``"space"``: for pre-tokenized corpora (Penn Treebank): tokens are the white-space separated strings,
  and each line end is a ``"\\n"`` token (``"mr."``, ``"'s"``, ``"<unk>"`` stay whole).
- ``"exact"``: like ``"punct"``, but every white-space character (space, tab, ``"\\n"``) is a token
  too, so decoding is lossless: ``decode(encode(text)) == text`` whenever no word is unknown.

Decoding (``detokenize``) for ``"punct"`` and ``"space"`` joins tokens with single spaces, except:
no space next to ``"\\n"``; and, for ``"punct"`` only, no space before a closing mark in ``CLOSERS``
(``, . ; : ! ? ) ] } %`` ...) and no space after an opening mark in ``OPENERS`` (``( [ {`` ...). Quotes and
all other marks keep spaces on both sides. Re-tokenizing decoded text always gives back the same tokens.

Word ids: ``"<unk>"`` is always present with id 0; the other tokens follow by descending frequency,
ties in alphabetical (code point) order. Tokens seen fewer than ``min_count`` times map to ``"<unk>"``,
and so do unknown words when encoding.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

UNK = "<unk>"
TOKENIZERS = ("punct", "space", "exact")

_ASCII_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"
_OTHER_PUNCT = ("\u00a1-\u00a9\u00ab-\u00b1\u00b4\u00b6-\u00b8\u00bb\u00bf\u00d7\u00f7"   # Latin-1 signs
                "\u2010-\u205e"                                                           # General Punctuation
                "\u3001-\u3004\u3008-\u3020\u3030\u303d-\u303f"                                # CJK punctuation
                "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65")                       # full-width forms
CLOSERS = frozenset(",.;:!?)]}%\u2026\u00bb\uff0c\u3002\u3001\uff1b\uff1a\uff01\uff1f\uff09\u300d\u300f")
OPENERS = frozenset("([{\u00bf\u00a1\u00ab\uff08\u300c\u300e")

_P = f"[{re.escape(_ASCII_PUNCT)}{_OTHER_PUNCT}]"
_W = f"[^\\s{re.escape(_ASCII_PUNCT)}{_OTHER_PUNCT}]"
_WORD = f"{_W}+(?:['\u2019-]{_W}+)*"
_PATTERNS = {
    "punct": re.compile(f"{re.escape(UNK)}|\\n|{_WORD}|{_P}"),
    "space": re.compile(r"\n|\S+"),
    "exact": re.compile(f"{re.escape(UNK)}|{_WORD}|.", re.DOTALL),
}


def tokenize(text: str, tokenizer: str = "punct") -> list[str]:
    """Split text into word, punctuation and ``"\\n"`` tokens (see the module docstring for the rules)."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return _PATTERNS[_check_tokenizer(tokenizer)].findall(text)


def detokenize(tokens, tokenizer: str = "punct") -> str:
    """Join tokens back into text: the inverse of ``tokenize`` on text written in its conventions."""
    if _check_tokenizer(tokenizer) == "exact":
        return "".join(tokens)
    pieces, prev = [], "\n"
    for tok in tokens:
        if not (prev == "\n" or tok == "\n" or (tokenizer == "punct" and (tok in CLOSERS or prev in OPENERS))):
            pieces.append(" ")
        pieces.append(tok)
        prev = tok
    return "".join(pieces)


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


class CharVocab:
    """Characters (Unicode code points) <-> ids 0..V-1."""

    kind = "char"

    def __init__(self, chars):
        chars = list(chars)
        if not chars:
            raise ValueError("a CharVocab needs at least one character")
        for c in chars:
            if not (isinstance(c, str) and len(c) == 1):
                raise ValueError(f"CharVocab entries must be single characters, got {c!r}")
        if len(set(chars)) != len(chars):
            dup = next(c for c in chars if chars.count(c) > 1)
            raise ValueError(f"character {dup!r} appears twice in the CharVocab")
        self._itos = tuple(chars)
        self._stoi = {c: i for i, c in enumerate(chars)}
        codes = np.array([ord(c) for c in chars], dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        self._sorted_codes, self._sorted_ids = codes[order], order.astype(np.int32)

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The sorted set of the text's characters (deterministic)."""
        if not isinstance(text, str) or not text:
            raise ValueError("cannot build a CharVocab from an empty text")
        return cls(sorted(set(text)))

    def encode(self, text: str) -> np.ndarray:
        """text (length L) -> int32 ids (L,); ValueError naming the first character not in the vocabulary."""
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
        """int ids (L,) -> text of L characters."""
        return "".join(map(self._itos.__getitem__, _check_ids(ids, len(self)).tolist()))

    def index(self, ch: str) -> int:
        if ch not in self._stoi:
            raise ValueError(f"character {ch!r} is not in the vocabulary of {len(self)} characters")
        return self._stoi[ch]

    @property
    def tokens(self) -> tuple[str, ...]:
        return self._itos

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, ch) -> bool:
        return ch in self._stoi

    def __eq__(self, other) -> bool:
        return isinstance(other, CharVocab) and self._itos == other._itos

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters)"

    def to_json(self) -> dict:
        return {"kind": "char", "tokens": list(self._itos)}

    @classmethod
    def from_json(cls, d: dict) -> CharVocab:
        return cls(_json_tokens(d, "char"))


class WordVocab:
    """Word, punctuation and ``"\\n"`` tokens <-> ids 0..V-1, with ``"<unk>"`` = 0."""

    kind = "word"

    def __init__(self, tokens, tokenizer: str = "punct"):
        tokens = list(tokens)
        if not tokens or tokens[0] != UNK:
            raise ValueError(f"a WordVocab's first token must be {UNK!r}, got {tokens[:1]}")
        for t in tokens:
            if not isinstance(t, str) or not t:
                raise ValueError(f"WordVocab tokens must be non-empty strings, got {t!r}")
        if len(set(tokens)) != len(tokens):
            dup = next(t for t in tokens if tokens.count(t) > 1)
            raise ValueError(f"token {dup!r} appears twice in the WordVocab")
        self.tokenizer = _check_tokenizer(tokenizer)
        self._itos = tuple(tokens)
        self._stoi = {t: i for i, t in enumerate(tokens)}
        self.unk_id = 0

    @classmethod
    def from_text(cls, text: str, min_count: int = 1, tokenizer: str = "punct") -> WordVocab:
        """Count the tokens of ``text``; keep those seen at least ``min_count`` times."""
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
        counts = Counter(tokenize(text, tokenizer))
        if not counts:
            raise ValueError("cannot build a WordVocab from a text with no tokens")
        kept = sorted((t for t, c in counts.items() if c >= min_count and t != UNK), key=lambda t: (-counts[t], t))
        return cls([UNK] + kept, tokenizer)

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, self.tokenizer)

    def detokenize(self, tokens) -> str:
        return detokenize(tokens, self.tokenizer)

    def encode(self, text: str) -> np.ndarray:
        """text -> int32 ids (L,) of its L tokens; unknown tokens -> ``unk_id``."""
        toks = self.tokenize(text)
        get = self._stoi.get
        return np.fromiter((get(t, 0) for t in toks), dtype=np.int32, count=len(toks))

    def decode(self, ids) -> str:
        """int ids (L,) -> text (see ``detokenize`` for the spacing rule)."""
        return self.detokenize(map(self._itos.__getitem__, _check_ids(ids, len(self)).tolist()))

    def index(self, token: str) -> int:
        if token not in self._stoi:
            raise ValueError(f"token {token!r} is not in the vocabulary of {len(self)} tokens")
        return self._stoi[token]

    @property
    def tokens(self) -> tuple[str, ...]:
        return self._itos

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token) -> bool:
        return token in self._stoi

    def __eq__(self, other) -> bool:
        return isinstance(other, WordVocab) and (self._itos, self.tokenizer) == (other._itos, other.tokenizer)

    def __repr__(self) -> str:
        return f"WordVocab({len(self)} tokens, tokenizer={self.tokenizer!r})"

    def to_json(self) -> dict:
        return {"kind": "word", "tokenizer": self.tokenizer, "tokens": list(self._itos)}

    @classmethod
    def from_json(cls, d: dict) -> WordVocab:
        return cls(_json_tokens(d, "word"), d.get("tokenizer", "punct"))


VOCABS = {"char": CharVocab, "word": WordVocab}   # the vocabulary levels, by name


def vocab_from_json(d: dict):
    """Rebuild a CharVocab or WordVocab from its ``to_json()`` dict (dispatch on ``d["kind"]``)."""
    if not isinstance(d, dict) or d.get("kind") not in VOCABS:
        raise ValueError(f"vocabulary JSON must have kind 'char' or 'word', got {_kind_of(d)!r}")
    return VOCABS[d["kind"]].from_json(d)


# ----------------------------------------------------------------------------------------------------

def _check_tokenizer(tokenizer: str) -> str:
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {tokenizer!r}")
    return tokenizer


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
