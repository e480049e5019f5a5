"""The conditional generator's page: a condition (one of the run's labels, or a row of numbers) -> texts,
through the task's own ``predict`` (sampling, greedy or beam search, ``GeneratePredictOptions``)."""

from __future__ import annotations

from pathlib import Path

from unroll.command import Page
from unroll.tasks.probes import Limits, Refused, field_of, text_field

MAX_SAMPLES = 10
MAX_TOKENS = 300


def conditions(task, model, body: dict, limits: Limits) -> dict:
    """{"cond": "label" | "vector", "labels": [...] (a label run), "cond_size": numbers (a vector run)}."""
    p = task.prepared
    return {"cond": task.cfg.cond, "labels": list(p.get("labels") or []), "cond_size": p.get("cond_size")}


def generate(task, model, body: dict, limits: Limits) -> dict:
    """{"condition", "texts": [n texts]} generated from ``condition`` (the predict options' names:
    temperature, top_k, greedy, beam, max_length, seed; the i-th text uses seed + i)."""
    from unroll.tasks.generate import GeneratePredictOptions
    condition = text_field(body, "condition", limits.line_chars)
    n = field_of(body, "n", int, default=3)
    if not 1 <= n <= MAX_SAMPLES:
        raise Refused(413 if n > 0 else 422, f"'n' must lie in 1..{MAX_SAMPLES}, got {n}")
    max_length = field_of(body, "max_length", int, default=60)
    if not 1 <= max_length <= MAX_TOKENS:
        raise Refused(413 if max_length > 0 else 422, f"'max_length' must lie in 1..{MAX_TOKENS}, got {max_length}")
    beam = field_of(body, "beam", int, default=1)
    if not 1 <= beam <= limits.beam_width:
        raise Refused(422, f"'beam' must lie in 1..{limits.beam_width}, got {beam}")
    seed = field_of(body, "seed", int, default=0)
    texts = []
    for i in range(n if beam == 1 else 1):
        options = GeneratePredictOptions(temperature=field_of(body, "temperature", float, default=1.0),
                                         top_k=field_of(body, "top_k", int), greedy=bool(field_of(body, "greedy", bool, default=False)),
                                         max_length=max_length, seed=seed + i, beam=beam)
        texts.extend(task.predict(model, [condition], options))
    return {"condition": condition, "texts": texts}


SECTION = (
    '<h3>generate</h3><div class="controls"><label>condition <input id="condition" list="labels" size="30"></label>'
    '<datalist id="labels"></datalist> <label>temperature <input id="gtemp" type="number" value="1" step="0.1" '
    'min="0.05"></label> <label>beam <input id="gbeam" type="number" value="1" min="1" max="16"></label> <label>'
    'samples <input id="gn" type="number" value="3" min="1" max="10"></label> <button id="generate">generate'
    '</button> <span id="gcond" class="muted"></span></div><div id="generated"></div>')

PAGE = Page(SECTION, Path(__file__).with_suffix(".js"), calls={"generate": generate, "conditions": conditions})
