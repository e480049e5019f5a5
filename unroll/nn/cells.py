"""The cell registry: which cell modules a ``Stack`` can drive, and the options each one takes.

``register_cell(name, module, ...)`` is the one declaration of a cell (``tests/nn/test_add_a_cell.py`` adds
one); ``nn/network.py`` reads ``CELLS`` to know which ``--alpha``, ``--skip-every`` ... apply to which cell,
and ``stack.Stack`` to route each option to forward/step or to init. ``CellKind.takes_row_gather``: the
cell's forward reads an ``ops.RowGather`` input projection inside its loop (the language model's embedding
fold is offered exactly to these cells).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class CellKind:
    """How a stack drives one cell module (which has init, param_shapes, forward, backward and step)."""

    module: str | ModuleType         # the module, or its dotted name (imported on first use)
    state_parts: int = 1             # 1: the state is h (N, H); 2: it is (h, c)
    options: tuple[str, ...] = ()    # keyword options that forward and step take, e.g. ("activation",)
    init_options: tuple[str, ...] = ()  # keyword options that init and param_shapes take (change the params)
    window: str | None = None        # the option giving a window length d when the state is (d, N, H)

    def load(self) -> ModuleType:
        return importlib.import_module(self.module) if isinstance(self.module, str) else self.module


CELLS: dict[str, CellKind] = {}


def register_cell(name: str, module: str | ModuleType, state_parts: int = 1, options: tuple[str, ...] = (),
                  init_options: tuple[str, ...] = (), window: str | None = None, registry: dict | None = None):
    """Make a cell module usable as ``Stack(name, ...)``.

    The module has ``init(D, H, rng, dtype, **init_options)``, ``param_shapes(D, H, **init_options)``,
    ``forward(x, params, state0, mask, **options)``, ``backward(dhs, cache, dstate)`` and
    ``step(x_t, params, state, **options)``, with a state of ``state_parts`` (N, H) arrays, or, with
    ``window="d"``, one window (d, N, H) of the last d states whose length is the option ``d``. A module may
    also have ``resolve_options(options) -> options`` to fill in defaults and check combinations, and
    ``output(h, params, **options)`` when a step's output is not its new h (deep_output).
    """
    if state_parts not in (1, 2):
        raise ValueError(f"state_parts must be 1 (h) or 2 ((h, c)), got {state_parts}")
    if window is not None and (state_parts != 1 or window not in (*options, *init_options)):
        raise ValueError(f"window must name one of the cell's options and needs state_parts 1, got {window!r}")
    (CELLS if registry is None else registry)[name] = CellKind(module, state_parts, tuple(options),
                                                               tuple(init_options), window)


register_cell("rnn", "unroll.nn.rnn", 1, ("activation",))
register_cell("lstm", "unroll.nn.lstm", 2)
register_cell("gru", "unroll.nn.gru", 1)
register_cell("leaky", "unroll.nn.leaky", 1, ("activation", "alpha"), ("learn_alpha", "alpha_range"))
register_cell("skip", "unroll.nn.skip", 1, ("activation", "d"), ("only_skip",), window="d")
register_cell("deep_transition", "unroll.nn.deep_transition", 1, ("activation",), ("depth", "shortcut"))
register_cell("deep_output", "unroll.nn.deep_output", 1, ("activation",), ("depth",))


def takes_row_gather(name: str) -> bool:
    """True when cell ``name``'s forward takes a precomputed input projection xw (its module's TAKES_ROW_GATHER)."""
    return bool(getattr(CELLS[name].load(), "TAKES_ROW_GATHER", False))
