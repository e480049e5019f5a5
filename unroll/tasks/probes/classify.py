"""The classifier's page: class probabilities of a text, and after each prefix of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unroll.command import Page
from unroll.tasks.probes import (VECTOR_BOX, Limits, Refused, field_of, reads_vectors, text_field, text_input,
                                 vector_rows)


def classify(task, model, body: dict, limits: Limits) -> dict:
    """Class probabilities of the text, and after each prefix of 1..T tokens: {"labels", "tokens",
    "probs" (C,), "steps" (T, C)}; the last step is the whole text. A vector run reads "rows" (its
    "tokens" are the step numbers)."""
    if reads_vectors(task):
        x = vector_rows(task, body, limits, limits.classify_tokens)
        steps = task.proba(model, task.inputs.encode([x[:t + 1] for t in range(len(x))]))     # (T, C)
        return {"labels": list(task.prepared["labels"]), "tokens": [str(t + 1) for t in range(len(x))],
                "probs": np.round(steps[-1], 6).tolist(), "steps": np.round(steps, 6).tolist()}
    text = text_input(task, body, "text", limits.line_chars)
    tokens = task.tokens(text)
    if not tokens:
        raise Refused(422, "'text' holds no token")
    if len(tokens) > limits.classify_tokens:
        raise Refused(413, f"'text' holds {len(tokens)} tokens; the limit is {limits.classify_tokens}")
    ids = task.encode(text)
    T = len(ids)
    prefixes = np.tril(np.ones((T, T), np.int64)).T                  # column t reads tokens 0..t
    steps = model.predict_proba(prefixes * ids[:, None], prefixes.astype(model.dtype))     # (T, C)
    return {"labels": list(task.prepared["labels"]), "tokens": tokens,
            "probs": np.round(steps[-1], 6).tolist(), "steps": np.round(steps, 6).tolist()}


def unit_rows(task, model, body: dict, limits: Limits) -> dict:
    """One unit of the top layer's output h_t (index < directions x H) along each of several inputs, each
    read alone from the zero state: {"rows": [{"tokens", "values"}], "scale": max |value|, "units"}. An
    ensemble (--members K) shows its member 0, and says so in "member" ("member 0 of K").
    "inputs": texts (one per input), or for a vector run pasted sequences (``vector_rows``' format)."""
    inputs = field_of(body, "inputs", list, required=True)
    if not inputs or len(inputs) > limits.texts:
        raise Refused(413 if inputs else 422, f"'inputs' must hold 1..{limits.texts} inputs, got {len(inputs)}")
    if not all(isinstance(x, str) for x in inputs):
        raise Refused(422, "'inputs' must be a list of strings")
    if reads_vectors(task):
        xs = [vector_rows(task, {"rows": x}, limits, limits.classify_tokens) for x in inputs]
        seqs, tokens = task.inputs.encode(xs), [[str(t + 1) for t in range(len(x))] for x in xs]
        batches = [x[:, None, :] for x in seqs]                                 # (T, 1, D)
    else:
        texts = [text_field({"text": x}, "text", limits.line_chars) for x in inputs]
        tokens, batches = [task.tokens(t) for t in texts], [task.encode(t)[:, None] for t in texts]   # (T, 1)
        if any(not t for t in tokens):
            raise Refused(422, "an input holds no token")
    unit = field_of(body, "unit", int, default=0)
    members = getattr(model, "members", None)          # an ensemble (models/ensemble.py): its member 0
    shown, rows = model.member(0) if members else model, []
    for toks, x in zip(tokens, batches):
        _, cache = shown.forward(x, None, training=False)
        if not 0 <= unit < cache.hs.shape[2]:
            raise Refused(422, f"'unit' must lie in 0..{cache.hs.shape[2] - 1}, got {unit}")
        rows.append({"tokens": toks, "values": np.round(cache.hs[:, 0, unit].astype(float), 6).tolist()})
    scale = max(abs(v) for r in rows for v in r["values"])
    out = {"rows": rows, "scale": scale or 1.0, "units": int(cache.hs.shape[2]), "unit": unit}
    return out | ({"member": f"member 0 of {len(members)}"} if members else {})


SECTION = (
    '<h3>classify</h3><div class="controls"><input id="text" size="60"> <button id="classify">classify'
    '</button></div>' + VECTOR_BOX + '<div id="probs"></div><h3>along the input</h3>'
    '<svg id="evolve" class="chart" width="760" height="260"></svg>'
    '<h3>one unit across inputs</h3><p class="muted">The top layer\'s output unit along each input, one row each, '
    'one colour scale. One text a line; a vector run: sequences separated by an empty line.</p>'
    '<textarea id="uinputs" rows="5" cols="70"></textarea><div class="controls"><label>unit <input id="uunit" '
    'type="number" min="0" value="0"></label> <button id="urows">show</button> <span id="uscale" class="muted">'
    '</span></div><div id="urowsbox"></div>')

PAGE = Page(SECTION, Path(__file__).with_suffix(".js"), calls={"classify": classify, "unit_rows": unit_rows})
