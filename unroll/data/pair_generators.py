"""Reproducible pair sets for sequence-to-sequence tasks: a seed fixes them, nothing is downloaded.

- ``addition``: "535+61" -> "596", each operand of 1..max_digits digits, each length equally likely and
  the digits uniform (Keras's addition example).
- ``dates``: a day between 1950-01-01 and 2049-12-31 written in one of many human formats, in English,
  French, German, Spanish, Italian, Portuguese or Dutch (month and weekday names from Babel's CLDR data)
  -> ISO 8601 ("3 mars 1999", "Wednesday, March 3, 1999", "3/3/99" -> "1999-03-03"). The numeric formats
  are chosen so that no source is ambiguous: slashes with a two-digit year are US month-first, slashes
  with a four-digit year are day-first (en_GB), dots and dashes are day-first; two-digit years 50-99 are
  19yy and 00-49 are 20yy.
- ``numbers``: English number words -> French number words with num2words ("ninety-seven" ->
  "quatre-vingt-dix-sept"), 0..999,999; the digit count 1..6 is equally likely, then the value uniform.
- ``reverse``: random lowercase strings with lengths uniform in [min_len, max_len] -> reversed.

Every generator returns ``n`` distinct pairs (distinct sources) as a list of (source, target) strings.
Babel and num2words are optional dependencies (``pip install 'unroll[data]'``), imported when used.
"""

from __future__ import annotations

import datetime

import numpy as np

KINDS = ("addition", "dates", "numbers", "reverse")
DATE_FORMATS = (
    ("en_US", "short"), ("en_US", "medium"), ("en_US", "long"), ("en_US", "full"), ("en_US", "d MMM y"),
    ("en_US", "MMMM d y"), ("en_US", "dd MMM y"), ("en_GB", "short"), ("en_GB", "long"), ("en_GB", "full"),
    ("fr_FR", "medium"), ("fr_FR", "long"), ("fr_FR", "full"), ("fr_FR", "d MMMM y"),
    ("de_DE", "short"), ("de_DE", "medium"), ("de_DE", "long"), ("de_DE", "full"),
    ("es_ES", "medium"), ("es_ES", "long"), ("es_ES", "full"), ("it_IT", "medium"), ("it_IT", "long"),
    ("it_IT", "full"), ("pt_BR", "medium"), ("pt_BR", "long"), ("pt_BR", "full"), ("nl_NL", "short"),
    ("nl_NL", "medium"), ("nl_NL", "long"), ("nl_NL", "full"),
)
FIRST_DAY, DAYS = datetime.date(1950, 1, 1), (datetime.date(2049, 12, 31) - datetime.date(1950, 1, 1)).days + 1


def generate(kind: str, n: int, seed: int = 0, **options) -> list[tuple[str, str]]:
    """``n`` distinct (source, target) pairs of one kind; ``options`` go to that kind's generator."""
    makers = {"addition": addition, "dates": dates, "numbers": numbers, "reverse": reverse}
    if kind not in makers:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    try:
        return makers[kind](n, seed, **options)
    except ImportError as err:                        # Babel or num2words: the optional extra
        raise ValueError(f"unroll data {kind} needs {err.name or 'an optional package'}: "
                         "pip install 'unroll[data]'") from None


def _distinct(n: int, draw, limit: int) -> list[tuple[str, str]]:
    """Call draw() -> (source, target) until n distinct sources are found, in the order first drawn."""
    if n > limit:
        raise ValueError(f"n = {n} exceeds the {limit} distinct pairs this setting can make")
    seen: dict[str, str] = {}
    while len(seen) < n:
        src, tgt = draw()
        seen.setdefault(src, tgt)
    return list(seen.items())


def addition(n: int, seed: int = 0, max_digits: int = 3) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)

    def operand() -> int:
        return int("".join(rng.choice(list("0123456789"), int(rng.integers(1, max_digits + 1)))))

    def draw():
        a, b = operand(), operand()
        return f"{a}+{b}", str(a + b)
    return _distinct(n, draw, 10 ** (2 * max_digits))     # operands 0 .. 10^d - 1, ordered pairs


def dates(n: int, seed: int = 0) -> list[tuple[str, str]]:
    from babel.dates import format_date
    rng = np.random.default_rng(seed)

    def draw():
        day = FIRST_DAY + datetime.timedelta(days=int(rng.integers(DAYS)))
        locale, fmt = DATE_FORMATS[int(rng.integers(len(DATE_FORMATS)))]
        return format_date(day, fmt, locale=locale), day.isoformat()
    return _distinct(n, draw, DAYS * 10)


def numbers(n: int, seed: int = 0, max_value: int = 999_999) -> list[tuple[str, str]]:
    from num2words import num2words
    rng = np.random.default_rng(seed)
    top = len(str(max_value))

    def draw():
        digits = int(rng.integers(1, top + 1))
        low, high = (0 if digits == 1 else 10 ** (digits - 1)), min(10 ** digits - 1, max_value)
        value = int(rng.integers(low, high + 1))
        return num2words(value, lang="en"), num2words(value, lang="fr")
    return _distinct(n, draw, max_value + 1)


def reverse(n: int, seed: int = 0, min_len: int = 10, max_len: int = 60, alphabet: str = "abcdefghijklmnopqrstuvwxyz"):
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    rng = np.random.default_rng(seed)
    letters = np.array(list(alphabet))

    def draw():
        s = "".join(rng.choice(letters, int(rng.integers(min_len, max_len + 1))))
        return s, s[::-1]
    return _distinct(n, draw, sum(len(alphabet) ** k for k in range(min_len, max_len + 1)))
