"""Each task's page in ``unroll serve``: one module per task (``PAGE``, a ``unroll.command.Page``), named by
the task class's ``page`` attribute, and what every page's calls share: request limits and refusals.

Every call checks its inputs against ``Limits`` and raises ``Refused`` (status, one line) for a request the
server will not run, or lets the library's one-line ValueError through (the app turns it into a 422). A
run that reads vectors (classify, tag, seq2seq on .csv / .ts / .npz data) has no text to take: its text
calls refuse in one line (``text_input``). These modules sit on the floor of ``unroll.serve`` and
``unroll.analysis`` (they use the cell viewer's analysis), above the tasks that name them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


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
    if task.prepared.get("input") == "vectors":
        raise Refused(422, f"this {task.name} run reads vectors ({task.prepared.get('features')} features a step), "
                           "not text: use `unroll predict RUN FILE.csv` for its predictions")
    return text_field(body, name, limit)
