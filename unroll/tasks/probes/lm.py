"""The language model's page: sampling (streamed), the cell viewer and gate saturation (``unroll.analysis``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unroll.analysis import activations, features, page
from unroll.analysis import gates as gate_stats
from unroll.command import Page
from unroll.models.lm_ensemble import member_note
from unroll.tasks.lm import text_piece
from unroll.tasks.probes import Limits, Refused, char_vocab, field_of, lm_inputs, text_field


def sample_request(task, body: dict, limits: Limits) -> dict:
    """Checked sampling settings: prime ids, length, temperature, top_k, greedy, seed."""
    vocab = task.vocab
    prime = field_of(body, "prime", str, default="")
    if len(prime) > limits.prime_chars:
        raise Refused(413, f"'prime' holds {len(prime)} characters; the limit is {limits.prime_chars}")
    length = field_of(body, "length", int, default=200)
    if not 0 <= length <= limits.sample_tokens:
        raise Refused(413 if length > 0 else 422, f"'length' must lie in 0..{limits.sample_tokens}, got {length}")
    temperature = field_of(body, "temperature", float, default=1.0)
    if not 0 < temperature <= limits.max_temperature:
        raise Refused(422, f"'temperature' must lie in (0, {limits.max_temperature:g}], got {temperature}")
    top_k = field_of(body, "top_k", int)
    if top_k is not None and top_k < 1:
        raise Refused(422, f"'top_k' must be at least 1, got {top_k}")
    seed = field_of(body, "seed", int)
    if seed is not None and not 0 <= seed < 2 ** 63:
        raise Refused(422, f"'seed' must lie in 0..2**63-1, got {seed}")
    if not prime:
        prime = "\n" if "\n" in vocab else vocab.tokens[0]
    ids = vocab.encode(prime)                      # a character outside the vocabulary: one-line ValueError
    if len(ids) == 0:
        raise Refused(422, "'prime' holds no token of the vocabulary")
    return {"prime": prime, "ids": ids, "length": length, "temperature": temperature, "top_k": top_k,
            "greedy": bool(field_of(body, "greedy", bool, default=False)), "seed": seed}


def sample_pieces(task, model, req: dict):
    """The prime, then the text each sampled token adds (an iterator of str)."""
    vocab, previous = task.vocab, int(req["ids"][-1])
    yield req["prime"]
    for token in model.generate(req["ids"], req["length"], req["temperature"], req["top_k"], req["greedy"],
                                req["seed"]):
        yield text_piece(vocab, previous, token)
        previous = token


def cells(task, model, body: dict, limits: Limits) -> dict:
    """The visualize page's data (``analysis.page.page_data``) for the text in the request."""
    vocab = char_vocab(task)
    text = text_field(body, "text", limits.text_chars)
    regex = field_of(body, "regex", str)
    acts = activations.collect(model, vocab, text, max_chars=limits.text_chars)
    found = features.find(acts, regex or None)
    kinds = acts.kinds()
    kind = field_of(body, "state", str, default="c" if "c" in kinds else "h")
    if kind not in kinds:
        raise Refused(422, f"'state' must be one of {', '.join(kinds)}, got {kind!r}")
    r = np.abs(found["r"]).max(0)
    candidates = [u for u, label in enumerate(found["units"]) if label[0] == kind]
    unit = found["units"][max(candidates, key=lambda u: r[u])]
    data = page.page_data(acts, vocab, found, unit, "cells", features.best_units(found, top=3))
    data["constant"] = found["constant"]
    return data | member_note(model)


def gates(task, model, body: dict, limits: Limits) -> dict:
    """Gate saturation (``analysis.gates.saturation``) over the request's text."""
    vocab = char_vocab(task)
    text = text_field(body, "text", limits.text_chars)
    return gate_stats.saturation(activations.collect(model, vocab, text, max_chars=limits.text_chars)) | member_note(model)

HINT = ("Type or paste text in the box above: the state, feature and unit lists, this text coloured by a unit, "
        "the units that follow a feature and the gate saturation all fill from the model's run over it.")
SECTION = (
    '<h3>sample</h3><div class="controls"><label>prime <input id="prime" size="30"></label>'
    ' <label>temperature <input id="temperature" type="number" value="0.8" step="0.1" min="0.05" max="10"></label>'
    ' <label>top-k <input id="topk" type="number" min="1" placeholder="all"></label>'
    ' <label>length <input id="length" type="number" value="300" min="0" max="2000"></label>'
    ' <button id="sample">sample</button></div><pre id="sampled" class="box"></pre>'
    '<h3>cells</h3><textarea id="celltext" rows="5" cols="100" placeholder="type or paste text"></textarea>'
    '<div class="controls"><label>state <select id="kind"></select></label>'
    ' <label>sort units by |r| with <select id="feature"></select></label>'
    ' <label>unit <select id="unit"></select></label> <span id="info"></span>'
    ' <span>-1 <span id="scale"></span> +1</span></div>'
    f'<div id="celltextview" class="box mono"><span class="muted hint">{HINT}</span></div><div id="tip"></div>'
    f'<h3>interpretable units</h3><div id="findbox"><p class="muted hint">{HINT}</p></div>'
    '<h3>gate saturation</h3><svg id="gates" class="chart" width="760" height="260">'
    '<text x="20" y="40" class="hint">Type or paste text in the cells box above: each gate unit of each layer '
    'is drawn here.</text></svg>' + lm_inputs.SECTION)

PAGE = Page(SECTION, Path(__file__).with_suffix(".js"), calls={"cells": cells, "gates": gates, "rows": lm_inputs.unit_rows,
                                                           "find_units": lm_inputs.find_units},
            streams={"sample": (sample_request, sample_pieces)})
