"""Features of a text, one number per character, and how strongly each unit tracks them (Pearson r).

Every feature is the state *after reading* character t, like h_t:

- ``line_position``: characters since the last newline (0 for the newline itself).
- ``inside_quotes``: 1 from an opening quote up to the character before the closing quote's last, else 0. Quotes
  are ``"``, ``'`` (ended by the line's end if left open) and Python's ``\"\"\"`` / ``'''`` (which span lines);
  a backslash escapes the next character. A single quote between two letters (``don't``) is an apostrophe.
  ``inside_short_string`` / ``inside_triple_quotes`` split it into one-line strings and (doc)strings in
  triple quotes, which a small model may track with different units.
- ``bracket_depth``: open ``( [ {`` minus closed, outside quotes, never below 0.
- ``indentation``: leading spaces (a tab counts 4) of the current line read so far.
- ``word_start``: 1 on a letter, digit or ``_`` that follows none of those.
- ``regex``: 1 on characters inside a match of a user's regular expression (``--feature-regex``).

``correlate(units (T, U), features {name: (T,)})`` returns r (F, U); a constant column gives r = 0.
``find(acts)`` correlates every unit of every layer (h, and tanh(c) for an LSTM) of an ``Activations`` with
every feature; ``best_units`` and ``format_table`` give the strongest units per feature (``--find``).
"""

from __future__ import annotations

import re

import numpy as np

FEATURES = ("line_position", "inside_quotes", "bracket_depth", "indentation", "word_start")
REFINEMENTS = ("inside_short_string", "inside_triple_quotes")   # inside_quotes split by kind of quote
OPEN, CLOSE = "([{", ")]}"


def line_position(text: str) -> np.ndarray:
    out, pos = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        pos = 0 if ch == "\n" else pos + 1
        out[t] = pos
    return out


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def quote_kind(text: str) -> np.ndarray:
    """(C,) 0 outside quotes, else the length of the open quote's delimiter (1 for ' or ", 3 for triple)."""
    out, quote, t, n = np.zeros(len(text)), "", 0, len(text)
    while t < n:
        ch = text[t]
        if quote:
            if ch == "\\":                                   # an escape: itself and the next are inside
                out[t:t + 2] = len(quote)
                t += 2
            elif text.startswith(quote, t):                   # closed after its last character
                out[t:t + len(quote) - 1] = len(quote)
                t, quote = t + len(quote), ""
            elif ch == "\n" and len(quote) == 1:              # a one-line quote left open ends with the line
                t, quote = t + 1, ""
            else:
                out[t] = len(quote)
                t += 1
        elif ch in "\"'" and not (ch == "'" and 0 < t < n - 1 and text[t - 1].isalpha() and text[t + 1].isalpha()):
            quote = ch * 3 if text.startswith(ch * 3, t) else ch
            out[t:t + len(quote)] = len(quote)
            t += len(quote)
        else:
            t += 1
    return out[:n]


def inside_quotes(text: str) -> np.ndarray:
    return (quote_kind(text) > 0).astype(float)


def inside_short_string(text: str) -> np.ndarray:
    """inside_quotes restricted to one-line ' or " strings."""
    return (quote_kind(text) == 1).astype(float)


def inside_triple_quotes(text: str) -> np.ndarray:
    """inside_quotes restricted to \"\"\" or \'\'\' strings (docstrings), which span lines."""
    return (quote_kind(text) == 3).astype(float)


def bracket_depth(text: str) -> np.ndarray:
    quoted = inside_quotes(text) > 0
    out, depth = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        if not quoted[t]:
            depth += ch in OPEN
            depth = max(0, depth - (ch in CLOSE))
        out[t] = depth
    return out


def indentation(text: str) -> np.ndarray:
    out, indent, leading = np.zeros(len(text)), 0, True
    for t, ch in enumerate(text):
        if ch == "\n":
            indent, leading = 0, True
        elif leading and ch in " \t":
            indent += 4 if ch == "\t" else 1
        else:
            leading = False
        out[t] = indent
    return out


def word_start(text: str) -> np.ndarray:
    return np.array([_is_word(ch) and (t == 0 or not _is_word(text[t - 1])) for t, ch in enumerate(text)], float)


def regex_feature(text: str, pattern: str) -> np.ndarray:
    """1 on characters inside a match of ``pattern``; a bad pattern is a one-line ValueError."""
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"--feature-regex {pattern!r} is not a regular expression: {err}") from None
    out = np.zeros(len(text))
    for m in compiled.finditer(text):
        out[m.start():m.end()] = 1.0
    return out


def features(text: str, regex: str | None = None) -> dict[str, np.ndarray]:
    """{name: (C,)} every feature of the module docstring (``regex`` only when a pattern is given)."""
    out = {name: globals()[name](text) for name in FEATURES + REFINEMENTS}
    if regex:
        out["regex"] = regex_feature(text, regex)
    return out


def correlate(units: np.ndarray, feats: dict[str, np.ndarray]) -> np.ndarray:
    """units (T, U), feats {name: (T,)} -> Pearson r (F, U), 0 where either side is constant."""
    X = np.asarray(units, dtype=np.float64)
    F = np.stack([np.asarray(v, dtype=np.float64) for v in feats.values()])  # (F, T)
    Xc, Fc = X - X.mean(0), F - F.mean(1, keepdims=True)
    sx, sf = np.sqrt((Xc ** 2).sum(0)), np.sqrt((Fc ** 2).sum(1))
    cov = Fc @ Xc                                                            # (F, U)
    denom = np.outer(sf, sx)
    r = np.divide(cov, denom, out=np.zeros_like(cov), where=denom > 1e-12 * max(1.0, denom.max(initial=0)))
    return np.clip(r, -1.0, 1.0)


def unit_matrix(acts) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Every unit of every layer as columns: ((T, U) values, [(kind, layer, unit)] labels), kinds h then c."""
    columns, labels = [], []
    for kind, values in acts.kinds().items():                  # values (L, T, H)
        L, _, H = values.shape
        columns.append(np.concatenate(list(values), axis=1))   # (T, L·H), layer-major
        labels += [(kind, l, k) for l in range(L) for k in range(H)]
    return np.concatenate(columns, axis=1), labels


def find(acts, regex: str | None = None) -> dict:
    """Pearson r of every unit with every feature over the known characters of ``acts`` (an Activations).

    returns {"features": [F names], "units": [(kind, layer, unit)], "r": (F, U) array, "constant": [names]};
    features that are constant over the text (e.g. bracket depth in plain prose) are left out and listed.
    """
    feats = {name: v[acts.known] for name, v in features(acts.text, regex).items()}
    constant = [name for name, v in feats.items() if v.size == 0 or np.all(v == v[0])]
    feats = {name: v for name, v in feats.items() if name not in constant}
    if not feats:
        raise ValueError("every feature is constant over this text (no r can be computed): give a longer text")
    values, labels = unit_matrix(acts)
    return {"features": list(feats), "units": labels, "r": correlate(values, feats), "constant": constant}


def best_units(found: dict, top: int = 3) -> list[dict]:
    """Rows {feature, kind, layer, unit, r}: the ``top`` units by |r| for each feature of ``find``'s result."""
    rows = []
    for f, name in enumerate(found["features"]):
        for u in np.argsort(-np.abs(found["r"][f]), kind="stable")[:top]:
            kind, layer, unit = found["units"][u]
            rows.append({"feature": name, "kind": kind, "layer": layer, "unit": unit, "r": float(found["r"][f, u])})
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows of ``best_units`` as an aligned text table."""
    lines = [f"{'feature':<20} {'state':<8} {'layer':>5} {'unit':>5} {'r':>7}"]
    for row in rows:
        state = "tanh(c)" if row["kind"] == "c" else "h"
        lines.append(f"{row['feature']:<20} {state:<8} {row['layer']:>5} {row['unit']:>5} {row['r']:>+7.3f}")
    return "\n".join(lines)
