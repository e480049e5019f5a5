"""Tokens of a text: the one ``tokens_of(text, level, tokenizer)`` and the word tokenizers.

At the ``"char"`` level a token is one Unicode code point. At the ``"word"`` level the tokens are
``tokenize(text, tokenizer)``'s. ``WordVocab`` is the seeds' word-level vocabulary, "including all
punctuation - commas, '\\n', ...". Its tokenizer is one of:

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
"""

from __future__ import annotations

import re

UNK = "<unk>"
TOKENIZERS = ("punct", "space", "exact")
LEVELS = ("char", "word")

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


def tokens_of(text: str, level: str, tokenizer: str = "punct") -> list[str]:
    """The tokens of ``text``: its code points at the ``"char"`` level, ``tokenize(text, tokenizer)`` at ``"word"``."""
    if level == "char":
        return list(text)
    if level != "word":
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    return tokenize(text, tokenizer)


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


def _check_tokenizer(tokenizer: str) -> str:
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {tokenizer!r}")
    return tokenizer
