"""The classifier's page: class probabilities of a text, and after each prefix of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unroll.command import Page
from unroll.tasks.probes import VECTOR_BOX, Limits, Refused, reads_vectors, text_input, vector_rows


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


SECTION = (
    '<h3>classify</h3><div class="controls"><input id="text" size="60"> <button id="classify">classify'
    '</button></div>' + VECTOR_BOX + '<div id="probs"></div><h3>along the input</h3>'
    '<svg id="evolve" class="chart" width="760" height="260"></svg>')

PAGE = Page(SECTION, Path(__file__).with_suffix(".js"), calls={"classify": classify})
