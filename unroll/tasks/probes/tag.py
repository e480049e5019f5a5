"""The tagger's page: the tag of each token of a line, with its probability."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unroll.command import Page
from unroll.tasks.probes import VECTOR_BOX, Limits, Refused, reads_vectors, text_input, vector_rows


def tag(task, model, body: dict, limits: Limits) -> dict:
    """{"tokens", "tags", "probs" (T,) of the chosen tag, "tagset"} for one line; a vector run reads
    "rows" (its "tokens" are the step numbers)."""
    names = task.prepared["tags"]
    if reads_vectors(task):
        x = vector_rows(task, body, limits, limits.classify_tokens)
        probs = task.proba(model, task.inputs.encode([x]))[0]                            # (T, K)
        best = probs.argmax(axis=1)
        return {"tokens": [str(t + 1) for t in range(len(x))], "tags": [names[k] for k in best],
                "tagset": list(names), "probs": np.round(probs[np.arange(len(x)), best], 6).tolist()}
    text = text_input(task, body, "text", limits.line_chars)
    tokens = task.tokens(text)
    if not tokens:
        raise Refused(422, "'text' holds no token")
    probs = model.predict_proba(task.encode(text)[:, None])[:, 0]                       # (T, K)
    best = probs.argmax(axis=1)
    return {"tokens": tokens, "tags": [names[k] for k in best], "tagset": list(names),
            "probs": np.round(probs[np.arange(len(tokens)), best], 6).tolist(), "level": task.cfg.level}


SECTION = (
    '<h3>tag</h3><div class="controls"><input id="text" size="60"> <button id="tag">tag</button></div>' + VECTOR_BOX +
    '<div id="tags" class="tags"></div>')

PAGE = Page(SECTION, Path(__file__).with_suffix(".js"), calls={"tag": tag})
