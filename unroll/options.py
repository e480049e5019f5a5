"""Settings as options: ``option()`` (a dataclass field that is also a CLI flag), ``names()`` of the
registries that list cells, optimizers, tokenizers ..., and checks of settings that name the flag the
user typed (``--hidden must be a positive integer, got 0``), shared by TrainConfig, the network section
and every task's settings; and the argparse type of every float flag, which refuses NaN and infinity
(they end in a diverged run, not in a result)."""

from __future__ import annotations

import argparse
import importlib
import math
from dataclasses import field, fields


def _positive(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def flag_of(config, name: str) -> str:
    """The command-line flag of field ``name`` of a settings dataclass (``hidden_size`` -> ``--hidden``)."""
    flag = {f.name: f for f in fields(config)}[name].metadata.get("flag") or "--" + name.replace("_", "-")
    return flag if isinstance(flag, str) else flag[0]


def check_positive(config, *names: str) -> None:
    """Each named int field (None allowed) is >= 1; the message names the field's flag."""
    for name in names:
        value = getattr(config, name)
        if value is not None:
            _positive(flag_of(config, name), value)


def check_finite(config) -> None:
    """Every float field of ``config`` is finite (NaN and infinity end in a diverged run, not a result)."""
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{flag_of(config, f.name)} must be a finite number, got {value}")


def check_encoding(encoding: str) -> None:
    import codecs
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"--encoding {encoding!r} is not a codec Python knows (try utf-8 or latin-1)") from None


def finite_float(text: str) -> float:
    """argparse type of every float flag: a finite number ('nan', 'inf' refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


# ----------------------------------------------------------------------------------------------------
# Settings fields that are also CLI options (config.py re-exports these; nn/network.py uses them too).

REGISTRIES = {               # name list -> (module, attribute); read on use, so config imports nothing heavy
    "cells": ("unroll.nn.stack", "CELLS"),
    "activations": ("unroll.nn.ops", "ACTIVATIONS"),
    "optimizers": ("unroll.train.optim", "OPTIMIZERS"),
    "decaying optimizers": ("unroll.train.optim", "DECAYING"),       # those that take --weight-decay
    "tokenizers": ("unroll.data.vocab", "TOKENIZERS"),
    "levels": ("unroll.data.vocab", "VOCABS"),
    "schedules": ("unroll.train.schedule", "SCHEDULES"),
}


def names(registry: str) -> tuple[str, ...]:
    """The names registered in one of REGISTRIES (e.g. names("cells") -> ("rnn", "lstm", ...))."""
    module, attribute = REGISTRIES[registry]
    return tuple(getattr(importlib.import_module(module), attribute))


def option(default, flag: str | tuple[str, ...] | None = None, help: str = "", choices: str | tuple | None = None,
           cli: bool = True, metavar=None):
    """A dataclass field that is also a CLI option.

    flag: the option string(s) (default ``--field-name``); choices: a key of REGISTRIES or a tuple of names;
    cli=False: not a flag
    """
    return field(default=default, metadata={"flag": flag, "help": help, "choices": choices, "cli": cli,
                                            "metavar": metavar})
