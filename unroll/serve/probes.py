"""What each task's page asks of a trained model, as plain functions on (task, model, request fields).

Every function checks its inputs against ``Limits`` and raises ``Refused`` (status, one line) for a request
the server will not run, or lets the library's one-line ValueError through (the app turns it into a 422).
They reuse the library: ``analysis.activations / features / gates / page`` for the cell viewer,
``decode`` through ``model.generate`` for sampling, ``Seq2SeqTask.translate`` for translation, the
classifier's and tagger's ``predict_proba``.

``PROBES`` says which page template and which API calls a task has. A task without an entry (longterm,
generate, and the forecast task until it adds one) gets the curves page and no probe. To add one: write
the functions here (or in the task's own module), add ``PROBES["forecast"] = Probe("forecast", {...})``
and a ``static/forecast.js`` that draws its answer; ``pages.run_page`` then renders the task's section.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from unroll.analysis import activations, features, page
from unroll.analysis import gates as gate_stats


@dataclass(frozen=True)
class Limits:
    """Bounded work per request (the app's refusals name these numbers)."""

    text_chars: int = 5000          # cell viewer, gates
    sample_tokens: int = 2000       # sampling length
    prime_chars: int = 2000
    line_chars: int = 1000          # translate, classify, tag
    beam_width: int = 16
    classify_tokens: int = 300      # the step-by-step evolution runs one prefix per token
    max_temperature: float = 10.0


class Refused(Exception):
    """A request the server will not run: HTTP ``status`` and a one-line reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def field_of(body: dict, name: str, kind, default=None, required: bool = False):
    """body[name] checked to be of ``kind`` (int excludes bool; float accepts int); Refused 422 otherwise."""
    if name not in body or body[name] is None:
        if required:
            raise Refused(422, f"'{name}' is required")
        return default
    value = body[name]
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if kind is float else \
        (isinstance(value, int) and not isinstance(value, bool)) if kind is int else isinstance(value, kind)
    if not ok:
        raise Refused(422, f"'{name}' must be {kind.__name__}, got {type(value).__name__}")
    return float(value) if kind is float else value


def text_field(body: dict, name: str, limit: int, allow_empty: bool = False) -> str:
    text = field_of(body, name, str, required=True)
    if len(text) > limit:
        raise Refused(413, f"'{name}' holds {len(text)} characters; the limit is {limit}")
    if not text and not allow_empty:
        raise Refused(422, f"'{name}' is empty")
    return text


# ----------------------------------------------------------------------------------------------------
# Language model.

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
    from unroll.tasks.lm import text_piece
    vocab, previous = task.vocab, int(req["ids"][-1])
    yield req["prime"]
    for token in model.generate(req["ids"], req["length"], req["temperature"], req["top_k"], req["greedy"],
                                req["seed"]):
        yield text_piece(vocab, previous, token)
        previous = token


def _char_vocab(task):
    vocab = task.vocab
    if getattr(vocab, "kind", None) != "char":
        raise Refused(422, "the cell viewer needs a character-level model; this run is word-level")
    return vocab


def cells(task, model, body: dict, limits: Limits) -> dict:
    """The visualize page's data (``analysis.page.page_data``) for the text in the request."""
    vocab = _char_vocab(task)
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
    return data


def gates(task, model, body: dict, limits: Limits) -> dict:
    """Gate saturation (``analysis.gates.saturation``) over the request's text."""
    vocab = _char_vocab(task)
    text = text_field(body, "text", limits.text_chars)
    return gate_stats.saturation(activations.collect(model, vocab, text, max_chars=limits.text_chars))


# ----------------------------------------------------------------------------------------------------
# seq2seq, classify, tag.

def translate(task, model, body: dict, limits: Limits) -> dict:
    """{"output", "source_tokens", "output_tokens", "attention" (U, T) or None, "log_prob", "finished"}."""
    from unroll.data.pairs import tokens_of
    line = text_field(body, "line", limits.line_chars)
    beam = field_of(body, "beam", int, default=1)
    if not 1 <= beam <= limits.beam_width:
        raise Refused(413 if beam > limits.beam_width else 422,
                      f"'beam' must lie in 1..{limits.beam_width}, got {beam}")
    _, tgt = task.vocabs
    hyp = task.translate(model, [task.encode_source(line, "line")], beam)[0]
    out_tokens = [tgt.tokens[i] for i in hyp.tokens] + (["<eos>"] if hyp.finished else [])
    attention = None if hyp.attention is None else np.round(hyp.attention.astype(np.float64), 4).tolist()
    return {"output": tgt.decode(hyp.tokens), "source_tokens": tokens_of(line, task.settings["pairs"].level),
            "output_tokens": out_tokens, "attention": attention, "log_prob": hyp.log_prob,
            "finished": hyp.finished, "beam": beam}


def classify(task, model, body: dict, limits: Limits) -> dict:
    """Class probabilities of the text, and after each prefix of 1..T tokens: {"labels", "tokens",
    "probs" (C,), "steps" (T, C)}; the last step is the whole text."""
    text = text_field(body, "text", limits.line_chars)
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


def tag(task, model, body: dict, limits: Limits) -> dict:
    """{"tokens", "tags", "probs" (T,) of the chosen tag, "tagset"} for one line."""
    from unroll.tasks import labelled as L
    text = text_field(body, "text", limits.line_chars)
    level = task.cfg.level
    tokens = [c for c in text if not c.isspace()] if level == "char" else text.split()
    if not tokens:
        raise Refused(422, "'text' holds no token")
    probs = model.predict_proba(L.encode(task._stoi(), tokens)[:, None])[:, 0]        # (T, K)
    best = probs.argmax(axis=1)
    names = task.prepared["tags"]
    return {"tokens": tokens, "tags": [names[k] for k in best], "tagset": list(names),
            "probs": np.round(probs[np.arange(len(tokens)), best], 6).tolist(), "level": level}


@dataclass(frozen=True)
class Probe:
    """A task's page section (``static/<script>.js``) and its API calls {name: function}."""

    script: str
    calls: dict = field(default_factory=dict)


PROBES = {
    "lm": Probe("lm", {"cells": cells, "gates": gates}),          # sampling streams: app.sample
    "seq2seq": Probe("seq2seq", {"translate": translate}),
    "classify": Probe("classify", {"classify": classify}),
    "tag": Probe("tag", {"tag": tag}),
}
