"""The language model's page, across inputs: one unit's activation over several texts (one row a text, one
colour scale for all), and the units that respond most differently to two groups of texts (LSTMVis #52).

For each text the model runs from its zero state (``analysis.activations.collect``); ``values[i]`` is the
unit's tanh(c) or h after character i (None for a character outside the vocabulary, which the model
skips). Find units scores unit u by

    score_u = (mean_A(m_u) - mean_B(m_u)) / (s_u + 1e-6),

m_u(text) being the unit's mean over a text's characters and s_u the standard deviation of the unit over
every character of both groups: how many of its usual swings apart the two groups sit. Units are ranked
by |score|.
"""

from __future__ import annotations

import numpy as np

from unroll.analysis import activations
from unroll.models.lm_ensemble import member_note
from unroll.tasks.probes import Limits, Refused, char_vocab, field_of

TOP = 20


def _texts(body: dict, name: str, limits: Limits, required: bool = True) -> list[str]:
    texts = field_of(body, name, list, default=[], required=required)
    if required and not texts:
        raise Refused(422, f"'{name}' holds no text")
    if len(texts) > limits.texts:
        raise Refused(413, f"'{name}' holds {len(texts)} texts; the limit is {limits.texts}")
    for k, text in enumerate(texts):
        if not isinstance(text, str) or not text:
            raise Refused(422, f"'{name}' item {k + 1} must be a non-empty string")
        if len(text) > limits.text_chars:
            raise Refused(413, f"'{name}' item {k + 1} holds {len(text)} characters; the limit is {limits.text_chars}")
    return texts


def _run(task, model, texts: list[str], kind: str | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(known (C,), states (L, T, H))] of each text, for state ``kind`` ("c" or "h"; None: c where the
    cell has it, else h)."""
    vocab, out = char_vocab(task), []
    for text in texts:
        acts = activations.collect(model, vocab, text)
        kinds = acts.kinds()
        kind = kind or ("c" if "c" in kinds else "h")
        if kind not in kinds:
            raise Refused(422, f"'state' must be one of {', '.join(kinds)}, got {kind!r}")
        out.append((acts.known, kinds[kind]))
    return out


def unit_rows(task, model, body: dict, limits: Limits) -> dict:
    """{"rows": [{"text", "values": [float | None per character]}], "scale": max |value|, "layers", "hidden"}
    of unit ``unit`` (layer · H + index) of state ``state`` over each of ``texts``."""
    texts = _texts(body, "texts", limits)
    kind, unit = field_of(body, "state", str), field_of(body, "unit", int, default=0)
    runs = _run(task, model, texts, kind)
    L, _, H = runs[0][1].shape
    if not 0 <= unit < L * H:
        raise Refused(422, f"'unit' must lie in 0..{L * H - 1} (layer x {H} + unit), got {unit}")
    rows = []
    for text, (known, states) in zip(texts, runs):
        seq = iter(states[unit // H, :, unit % H].tolist())
        rows.append({"text": text, "values": [round(next(seq), 6) if k else None for k in known]})
    scale = max((abs(v) for r in rows for v in r["values"] if v is not None), default=1.0)
    return {"rows": rows, "scale": scale or 1.0, "layers": L, "hidden": H, "unit": unit} | member_note(model)


def find_units(task, model, body: dict, limits: Limits) -> dict:
    """{"units": [{"unit", "layer", "index", "score", "mean_a", "mean_b"}] (the TOP by |score|)} for the
    texts of groups ``a`` and ``b`` (see the module doc)."""
    a, b = _texts(body, "a", limits), _texts(body, "b", limits)
    kind = field_of(body, "state", str)
    runs = _run(task, model, a + b, kind)
    means = np.stack([states.mean(axis=1).reshape(-1) for _, states in runs])          # (texts, L·H)
    every = np.concatenate([states.transpose(1, 0, 2).reshape(states.shape[1], -1) for _, states in runs])
    score = (means[:len(a)].mean(0) - means[len(a):].mean(0)) / (every.std(0) + 1e-6)
    H = runs[0][1].shape[2]
    order = np.argsort(-np.abs(score), kind="stable")[:TOP]
    return {"units": [{"unit": int(u), "layer": int(u // H), "index": int(u % H), "score": float(score[u]),
                                      "mean_a": float(means[:len(a), u].mean()), "mean_b": float(means[len(a):, u].mean())}
                                     for u in order]}


SECTION = (
    '<h3>one unit across inputs</h3><p class="muted">One input a line. Group A alone: the unit\'s activation on '
    'each input, one row each, one colour scale (the largest |value| of all rows). Both groups: find the units '
    'that respond most differently to them.</p><div class="controls"><textarea id="groupa" rows="4" cols="55" '
    'placeholder="group A: one input a line"></textarea><textarea id="groupb" rows="4" cols="55" '
    'placeholder="group B (for find units)"></textarea></div><div class="controls"><label>state <select '
    'id="rstate"><option value="">tanh(c) (h without a cell state)</option><option value="h">h</option></select></label> <label>unit '
    '(layer x H + index) <input id="runit" type="number" min="0" value="0"></label> <button id="showrows">show '
    'the unit on each input</button> <button id="findunits">find units</button> <span id="rscale" '
    'class="muted"></span></div><div id="rowsbox"></div><div id="foundbox"></div>')
