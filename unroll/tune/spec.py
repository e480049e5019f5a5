"""The search space of `unroll tune --search`, checked against `unroll train --task T` before any trial.

A search is comma-separated parameters, each named by its `unroll train` flag (``hidden``, ``--hidden``,
``seq_len`` and ``seq-len`` all name ``--seq-len``)::

    hidden=64..512:log        an integer range (the flag takes integers), sampled on a log scale
    dropout=0..0.6            a float range, uniform
    lr=3e-4..1e-2:log         a float range, log scale (both ends above 0)
    cell=lstm|gru             a choice (also hidden=64|128, layer-norm=true|false for an on/off flag)

Each parameter is checked against the flag's argparse action (its type and choices) and then, at both ends
of a range and at every choice, by building the trial's settings exactly as `unroll train` would, so a value
that training would refuse is refused here, in one line naming the parameter. ``train_settings`` is that
one parse, used by the trials themselves too.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

RESERVED = {"--out": "tune gives every trial its own run folder under the study folder",
            "--resume": "`unroll tune --resume STUDY` continues a study; a trial is a new run",
            "--workers": "a trial trains in one process; --jobs N runs N trials at once",
            "--task": "give --task once, to unroll tune"}
FORMS = "write NAME=LOW..HIGH, NAME=LOW..HIGH:log or NAME=A|B|C"


@dataclass(frozen=True)
class Param:
    """One searched flag: kind "int" | "float" (low..high, log) or "choice" (values)."""

    name: str                 # the flag without dashes: the Optuna parameter's name
    flag: str                 # --hidden
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    values: tuple = ()
    switch: bool = False      # an on/off flag: True adds it, False leaves it out ...
    negatable: bool = False   # ... or gives --no-FLAG (a flag that is on by default)

    def suggest(self, trial):
        if self.kind == "int":
            return trial.suggest_int(self.name, self.low, self.high, log=self.log)
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        return trial.suggest_categorical(self.name, list(self.values))

    def argv(self, value) -> list[str]:
        """The `unroll train` arguments that set this parameter to ``value``."""
        if self.switch:
            return [self.flag] if value else [f"--no-{self.flag[2:]}"] if self.negatable else []
        return [self.flag, format_value(value)]

    def corners(self) -> list:
        """The values checked before the study starts: both ends of a range, every choice."""
        return [self.low, self.high] if self.kind in ("int", "float") else list(self.values)


def format_value(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class _Refusing(argparse.ArgumentParser):
    """The train parser, raising a ValueError instead of exiting."""

    def error(self, message):
        raise ValueError(message)


def train_parser(task: str) -> argparse.ArgumentParser:
    """`unroll train --task TASK`'s own parser (unroll.cli), errors as ValueError."""
    from unroll.cli import _train_arguments
    p = _Refusing(prog=f"unroll train --task {task}", add_help=False)
    _train_arguments(task, p)
    return p


def train_settings(task: str, argv: list[str]):
    """(settings {section: dataclass}, TrainConfig) of `unroll train --task TASK ARGV`, as cmd_train builds
    them; a bad flag or value is a one-line ValueError."""
    from unroll.config import TrainConfig, from_args
    from unroll.tasks import get_task
    args = train_parser(task).parse_args(["--task", task, *argv])
    cls = get_task(task)
    settings = {name: from_args(c, args, name) for name, c in cls.sections.items()}
    return settings, from_args(TrainConfig, args, "train", cls.train_defaults)


def check_fixed(task: str, fixed: list[str]) -> None:
    """The fixed `unroll train` flags given beside the search: refused in one line if train refuses them."""
    for flag in RESERVED:
        if any(a == flag or a.startswith(flag + "=") for a in fixed):
            raise ValueError(f"{flag} cannot be a fixed flag of the trials: {RESERVED[flag]}")
    try:
        train_settings(task, fixed)
    except ValueError as err:
        raise ValueError(f"the fixed unroll train flags: {err}") from None


def parse(text: str, task: str, fixed: list[str]) -> list[Param]:
    """The parameters of ``text`` for `unroll train --task TASK` with the ``fixed`` flags; every bad one is a
    one-line ValueError naming it."""
    parser, params = train_parser(task), []
    actions = parser._option_string_actions
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not values.strip():
            raise ValueError(f"--search {item}: no values; {FORMS}")
        flag = "--" + name.lstrip("-").replace("_", "-")
        if flag in RESERVED:
            raise ValueError(f"--search {name}: {RESERVED[flag]}")
        action = actions.get(flag)
        if action is None or action.dest in ("help", "quiet"):
            raise ValueError(f"--search {name}: unroll train --task {task} has no flag {flag}")
        flag = action.option_strings[0]
        if any(p.flag == flag for p in params):
            raise ValueError(f"--search {name}: given twice")
        if any(a in action.option_strings or a.split("=")[0] in action.option_strings for a in fixed):
            raise ValueError(f"--search {name}: {flag} is also given as a fixed flag; give it one way")
        param = _param(item, flag, action, values.strip())
        _check_corners(param, task, fixed)
        params.append(param)
    if not params:
        raise ValueError(f"--search names no parameter; {FORMS}")
    return params


def _param(item: str, flag: str, action, values: str) -> Param:
    name = flag[2:]
    if action.nargs == 0:                                                   # an on/off flag
        choices = values.split("|")
        bad = [c for c in choices if c.lower() not in ("true", "false")]
        if bad or len(choices) < 2:
            raise ValueError(f"--search {item}: {flag} is on or off; search it as {name}=true|false")
        return Param(name, flag, "choice", values=tuple(c.lower() == "true" for c in choices), switch=True,
                     negatable=isinstance(action, argparse.BooleanOptionalAction))
    if action.nargs not in (None, "?"):
        raise ValueError(f"--search {item}: {flag} takes several values; give it as a fixed flag")
    convert = action.type or str
    if "|" in values or ".." not in values:
        choices = values.split("|")
        if len(choices) < 2:
            raise ValueError(f"--search {item}: one value is not a search; give it as the fixed flag {flag} "
                             f"{values}, or {FORMS}")
        converted = tuple(_convert(item, flag, convert, c.strip()) for c in choices)
        if action.choices is not None:
            for c in converted:
                if c not in action.choices:
                    raise ValueError(f"--search {item}: {flag} has no choice {c!r} (choices: "
                                     f"{', '.join(map(str, action.choices))})")
        if len(set(converted)) < len(converted):
            raise ValueError(f"--search {item}: a value is given twice")
        return Param(name, flag, "choice", values=converted)
    if action.choices is not None or convert is str:
        raise ValueError(f"--search {item}: {flag} takes a name, not a number range; give its values as "
                         f"{name}=A|B")
    bounds, _, scale = values.partition(":")
    if scale not in ("", "log"):
        raise ValueError(f"--search {item}: unknown scale {scale!r} (only :log)")
    low_text, _, high_text = bounds.partition("..")
    low, high = (_convert(item, flag, convert, t.strip()) for t in (low_text, high_text))
    if not low < high:
        raise ValueError(f"--search {item}: the low end {low} must be below the high end {high}")
    if scale == "log" and low <= 0:
        raise ValueError(f"--search {item}: a :log range needs a low end above 0, got {low}")
    kind = "int" if convert is int else "float"
    return Param(name, flag, kind, low=low, high=high, log=scale == "log")


def _convert(item: str, flag: str, convert, text: str):
    try:
        value = convert(text)
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        what = {int: "an integer", str: "a name"}.get(convert, "a number")
        raise ValueError(f"--search {item}: {flag} takes {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"--search {item}: {flag} takes a finite number, got {text!r}")
    return value


def _check_corners(param: Param, task: str, fixed: list[str]) -> None:
    """Build the trial settings at each corner value: a value training would refuse is refused now."""
    for value in param.corners():
        try:
            train_settings(task, [*fixed, *param.argv(value)])
        except ValueError as err:
            shown = param.name + "=" + format_value(value)
            raise ValueError(f"--search {param.name}: unroll train refuses {shown}: {err}") from None


def values_of(text: str, params: list[Param]) -> dict:
    """An --enqueue spec 'name=value,...' as {parameter: value}, each value within the search space."""
    by_name = {p.name: p for p in params}
    by_name.update({p.name.replace("-", "_"): p for p in params})
    out = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        name, _, value = item.partition("=")
        param = by_name.get(name.strip().lstrip("-"))
        if param is None:
            raise ValueError(f"--enqueue {item}: {name.strip()} is not a searched parameter "
                             f"({', '.join(by_name)})")
        out[param.name] = _enqueued(item, param, value.strip())
    missing = [p.name for p in params if p.name not in out]
    if missing:
        raise ValueError(f"--enqueue {text}: give every searched parameter (missing: {', '.join(missing)})")
    return out


def _enqueued(item: str, param: Param, text: str):
    if param.switch:
        return text.lower() == "true"
    convert = {"int": int, "float": float}.get(param.kind) or type(param.values[0])
    value = _convert(item, param.flag, convert, text)
    inside = param.low <= value <= param.high if param.kind != "choice" else value in param.values
    if not inside:
        raise ValueError(f"--enqueue {item}: {value} lies outside the search of {param.name}")
    return value
