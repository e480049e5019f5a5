"""The seq2seq page: a line translated (greedy or beam search), with its attention."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unroll.command import Page
from unroll.data.pairs import tokens_of
from unroll.tasks.probes import Limits, Refused, field_of, text_input


def translate(task, model, body: dict, limits: Limits) -> dict:
    """{"output", "source_tokens", "output_tokens", "attention" (U, T) or None, "log_prob", "finished"}."""
    line = text_input(task, body, "line", limits.line_chars)
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


SECTION = (
    '<h3>translate</h3><div class="controls"><input id="line" size="50"> <label>beam '
    '<input id="beam" type="number" value="1" min="1" max="16"></label> <button id="translate">translate'
    '</button></div><pre id="output" class="box"></pre><h3>attention</h3><div id="heat"></div>')

PAGE = Page(SECTION, Path(__file__).with_suffix(".js"), calls={"translate": translate})
