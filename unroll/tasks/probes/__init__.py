"""Each task's page in ``unroll serve``: one module per task (``PAGE``, a ``unroll.command.Page``), named by
the task class's ``page`` attribute, and what every page's calls share: request limits and refusals.

Every call checks its inputs against ``Limits`` and raises ``Refused`` (status, one line) for a request the
server will not run, or lets the library's one-line ValueError through (the app turns it into a 422). A
run that reads vectors (classify, tag, seq2seq on .csv / .ts / .npz data) has no text to take: its text
calls refuse in one line (``text_input``); classify and tag read a pasted or uploaded sequence instead
(``vector_rows``: one step a line, its numbers separated by commas, spaces or tabs; VECTOR_BOX is the
section's part for it, shown by ``Chart.pageKit().vectors()`` on a vector run's page). These modules sit on the floor of ``unroll.serve`` and
``unroll.analysis`` (they use the cell viewer's analysis), above the tasks that name them.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

import numpy as np


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
    history_points: int = 2000      # forecast: history points per series
    vector_chars: int = 40000       # pasted or uploaded vector sequence (classify, tag)
    texts: int = 20                 # several inputs at once (the cell viewer's rows)


class Refused(Exception):
    """A request the server will not run: HTTP ``status`` and a one-line reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def page_of(task_cls):
    """The task's Page (its module's PAGE), or None for a task without one (its run page shows curves only)."""
    name = getattr(task_cls, "page", None)
    return importlib.import_module(name).PAGE if name else None


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


def text_input(task, body: dict, name: str, limit: int) -> str:
    """The request's text, for a run that reads text; a vector run refuses it in one line."""
    if reads_vectors(task):
        raise _not_text(task)
    return text_field(body, name, limit)


def _not_text(task) -> Refused:
    return Refused(422, f"this {task.name} run reads vectors ({task.prepared.get('features')} features a step), not "
                        "text: send 'rows' (one step a line), or use `unroll predict RUN FILE.csv`")


def char_vocab(task):
    """The run's character vocabulary (the cell viewer reads characters); Refused 422 for a word-level run."""
    vocab = task.vocab
    if getattr(vocab, "kind", None) != "char":
        raise Refused(422, "the cell viewer needs a character-level model; this run is word-level")
    return vocab


def reads_vectors(task) -> bool:
    return (task.prepared or {}).get("input") == "vectors"


def vector_rows(task, body: dict, limits: Limits, max_steps: int) -> np.ndarray:
    """The request's "rows" (one step a line, F numbers each; a first line that is not numbers is a header
    and skipped) as a (T, F) float64 array; Refused 422 naming the line that is not F numbers."""
    if "rows" not in body and "text" in body:
        raise _not_text(task)
    text = text_field(body, "rows", limits.vector_chars)
    F, rows = task.prepared["features"], []
    lines = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    for k, (number, line) in enumerate(lines):
        cells = [c for c in re.split(r"[,;\s]+", line.strip()) if c]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if k == 0 and len(lines) > 1:
                continue                                  # a header naming the columns
            raise Refused(422, f"'rows' line {number} is not numbers: {line.strip()[:40]!r}") from None
        if len(values) != F:
            raise Refused(422, f"'rows' line {number} has {len(values)} numbers; this run reads {F} features a step")
        rows.append(values)
    if not rows:
        raise Refused(422, "'rows' holds no step")
    if len(rows) > max_steps:
        raise Refused(413, f"'rows' holds {len(rows)} steps; the limit is {max_steps}")
    x = np.array(rows, np.float64)
    if not np.isfinite(x).all():
        raise Refused(422, "'rows' holds a value that is not finite")
    return x


VECTOR_BOX = ('<div id="vecbox" hidden><p class="muted">This run reads vector sequences: paste one step a line '
              '(its features separated by commas or spaces) or open a file.</p><textarea id="rows" rows="6" '
              'cols="60"></textarea><br><input type="file" id="rowsfile" accept=".csv,.txt,.tsv"></div>')
