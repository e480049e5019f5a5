"""Stacks of recurrent layers: depth, bidirectional layers, variable-length sequences, dropout between layers.

A stack of L layers of one cell kind (``rnn`` | ``lstm`` | ``gru``, or any cell registered with
``register_cell``) in ``dirs`` = 1 or 2 directions. For layer l = 0..L-1 and sequence n of length T_n::

    x^(0) = x                                                              (T, N, D)
    →h^(l)_t = cell(x^(l)_t, →h^(l)_{t-1})          t = 1 .. T_n            forward in time
    ←h^(l)_t = cell(x^(l)_t, ←h^(l)_{t+1})          t = T_n .. 1            reverse, from the last REAL step
    y^(l)_t  = [→h^(l)_t ; ←h^(l)_t]                                        (T, N, dirs·H)
    x^(l+1)  = dropout_p(y^(l))                     inverted dropout, training only, between layers only
    hs = y^(L-1)                                                            (T, N, dirs·H)

Regularisers that keep the fused kernels (``unroll/nn/regularize.py``): ``locked=True`` makes the dropout
between layers locked (one mask per sequence for every step, Gal & Ghahramani); ``weight_drop=p`` runs each
layer and direction with a DropConnect-masked W̃_h = W_h ⊙ M / (1 - p), one mask per forward call, and its
backward masks dW_h the same way (AWD-LSTM). Both are off at evaluation. An LSTM with ``recurrent_dropout``
or ``zoneout`` runs ``nn/lstm_reg.py`` (its fused loop) on sequences of one length, masks drawn here.

The reverse direction is the same cell run over ``x^(l)[R]``, where ``R`` reverses each sequence within its
own length: ``R[t, n] = T_n - 1 - t`` for t < T_n and ``R[t, n] = t`` on padding. ``R`` is an involution
(``x[R][R] = x``), so the outputs are gathered back with ``R`` and the backward pass scatters its gradients
with the same gather. Padded steps output zeros in both directions.

State layout, PyTorch's: an array ``(L·dirs, N, H)`` for rnn/gru/leaky, a tuple ``(h, c)`` of two such arrays
for lstm, ``(L·dirs, d, N, H)`` (each row the window of its last d states) for skip; row ``l·dirs + d``
(d = 0 forward, 1 reverse). ``state0=None`` means zeros. The final state of the
reverse direction is the one after reading step 1.

Backward runs the layers top down: the gradient of ``y^(l)`` is split into the directions, each cell
backpropagates through time, the two input gradients add up, and dropout's keep-mask multiplies them on
the way to ``y^(l-1)``.

Parameters are one flat dict, ``"layer{l}.{cell}.{name}"`` and ``"layer{l}.{cell}_reverse.{name}"``
(e.g. ``"layer1.lstm_reverse.W_h"``); layer 0 reads D features, deeper layers dirs·H.

Cache memory: the cells' caches (each ~ c·T·N·H floats) for every layer and direction, plus one
(T, N, dirs·H) dropout keep-mask per layer boundary when dropout is on.
Cells: ``nn/cells.py``'s registry; settings: one network section, ``nn/network.py``'s StackConfig.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.nn import checks, ops, regularize
from unroll.nn import cells
from unroll.nn.cells import CELLS, CellKind  # noqa: F401  (the registry, re-exported)


def register_cell(name: str, module, state_parts: int = 1, options: tuple[str, ...] = (),
                  init_options: tuple[str, ...] = (), window: str | None = None):
    """``nn/cells.py``'s register_cell, into this module's CELLS (which a test may swap for a copy)."""
    cells.register_cell(name, module, state_parts, options, init_options, window, registry=CELLS)


class StackCache(NamedTuple):
    caches: list                 # [l][d] the cell's cache of layer l, direction d
    keeps: list                  # [l] dropout keep-mask (T, N, dirs·H) applied to layer l's input, or None
    rev: np.ndarray | None       # (T, N) per-sequence reversal index R, or None when unidirectional
    dtype: np.dtype              # the parameters' dtype
    gather: object = None        # the ops.RowGather given as xw0 that forward materialised, or None
    weight_keeps: list | None = None   # [l][d] the scaled DropConnect mask of W_h, or None (weight_drop off)


class Stack:
    """``num_layers`` layers of one cell kind, optionally bidirectional; see the module docstring.

    cell: a registered cell name ("rnn", "lstm", "gru", "leaky", "skip", ...); activation: a name in
    ``ops.ACTIVATIONS`` for cells that take one (rnn, leaky, skip); cell_options: further keyword options of a
    registered cell (leaky: alpha or learn_alpha, alpha_range; skip: d, only_skip), each routed to
    forward/step or to init/param_shapes as the cell's registration says.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, activation: str = "tanh",
                 cell_options: dict | None = None, weight_drop: float = 0.0, locked: bool = False,
                 recurrent_dropout: float = 0.0, zoneout: float = 0.0):
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(sorted(CELLS))}, got {cell!r}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise ValueError(f"bidirectional must be True or False, got {bidirectional!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.cell, self.kind = cell, CELLS[cell]
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bidirectional, self.dropout, self.activation = bool(bidirectional), float(dropout), activation
        if isinstance(weight_drop, bool) or not isinstance(weight_drop, (int, float)) or not 0.0 <= weight_drop < 1.0:
            raise ValueError(f"weight_drop must be a number in [0, 1), got {weight_drop!r}")
        self.weight_drop, self.locked = float(weight_drop), bool(locked)
        regularize.lstm_masks(recurrent_dropout, zoneout, 0, 0, 0, None, False, np.dtype(np.float32))   # checks p
        if (recurrent_dropout or zoneout) and cell != "lstm":
            raise ValueError(f"recurrent dropout and zoneout are LSTM regularisers (nn/lstm_reg.py), not {cell!r}'s")
        self.recurrent_dropout, self.zoneout = float(recurrent_dropout), float(zoneout)
        self.dirs = 2 if self.bidirectional else 1
        options = self._cell_options(activation, dict(cell_options or {}))
        self.options = {k: v for k, v in options.items() if k in self.kind.options}          # forward, step
        self.init_options = {k: v for k, v in options.items() if k in self.kind.init_options}  # init, shapes
        has_W_h = sum(k.endswith(".W_h") for k in self.param_shapes()) == self.num_layers * self.dirs
        if self.weight_drop and not has_W_h:
            raise ValueError(f"weight_drop needs recurrent weights W_h, which cell {cell!r} with these options lacks")

    @classmethod
    def from_config(cls, network, input_size: int) -> "Stack":
        """The stack that a network section (``nn/network.py``'s StackConfig) describes, reading input_size features."""
        return cls(network.cell, input_size, network.hidden_size, network.num_layers, network.bidirectional,
                   network.dropout, network.activation, network.cell_options(), network.weight_drop,
                   network.locked_dropout, network.recurrent_dropout, network.zoneout)

    def __repr__(self):
        return (f"Stack({self.cell!r}, input_size={self.input_size}, hidden_size={self.hidden_size}, "
                f"num_layers={self.num_layers}, bidirectional={self.bidirectional}, dropout={self.dropout}"
                + (f", weight_drop={self.weight_drop}" if self.weight_drop else "")
                + (", locked=True" if self.locked else "")
                + "".join(f", {k}={v!r}" for k, v in (self.options | self.init_options).items()) + ")")

    # ------------------------------------------------------------------------------------------------
    # Parameters and states.

    def prefix(self, layer: int, direction: int) -> str:
        """The key prefix of one layer and direction, e.g. "layer1.gru_reverse"."""
        return f"layer{layer}.{self.cell}{'_reverse' if direction else ''}"

    def layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.dirs * self.hidden_size

    def param_shapes(self) -> dict[str, tuple]:
        """Every parameter's flat key and shape, in layer, direction order."""
        module = self.kind.load()
        return {f"{self.prefix(l, d)}.{k}": shape
                for l in range(self.num_layers) for d in range(self.dirs)
                for k, shape in module.param_shapes(self.layer_input_size(l), self.hidden_size,
                                                    **self.init_options).items()}

    def init(self, rng: np.random.Generator, dtype=np.float32) -> dict:
        """Each cell's own initialisation, drawn in layer, direction order from ``rng``."""
        module = self.kind.load()
        return {f"{self.prefix(l, d)}.{k}": v
                for l in range(self.num_layers) for d in range(self.dirs)
                for k, v in module.init(self.layer_input_size(l), self.hidden_size, rng, dtype,
                                        **self.init_options).items()}

    def zero_state(self, N: int, dtype=np.float32):
        """Zeros in the stack's state layout: (L·dirs, N, H) ((L·dirs, d, N, H) for a windowed cell such as
        skip), or a tuple (h, c) of those for lstm."""
        shape = (self.num_layers * self.dirs, *self._row_shape(N))
        return np.zeros(shape, dtype) if self.kind.state_parts == 1 else (np.zeros(shape, dtype), np.zeros(shape, dtype))

    # ------------------------------------------------------------------------------------------------
    # Forward, backward, step.

    def forward(self, x: np.ndarray | None, params: dict, state0=None, mask=None, rng: np.random.Generator | None = None,
                training: bool = True, xw0=None):
        """Run every layer and direction over the whole sequence.

        x: (T, N, D), state0: see the module docstring or None (zeros), mask: (T, N) or None,
        rng: draws the dropout masks (needed only when dropout > 0 and training),
        xw0: None, or (unidirectional rnn/lstm/gru only) layer 0's input projection x W_x + b (T, N, G)
        computed by the caller in place of x (the embedding fold); backward then returns its gradient as dx
        and None for layer 0's W_x and b. xw0 may also be an ``ops.RowGather(table (V, G), ids (T, N))``:
        backward then returns δtable (V, G) as dx; a cell with ``TAKES_ROW_GATHER`` reads the rows inside its
        loop, the others get them materialised (and their gradient scattered back here)
        returns hs: (T, N, dirs·H), state: the final states in state0's layout, cache: StackCache
        """
        dtype = self._check_params(params)
        if xw0 is not None:
            if self.bidirectional or x is not None:
                raise ValueError("xw0 replaces x, and only in a unidirectional stack")
        module, gather = self._module(), None
        if isinstance(xw0, ops.RowGather) and not getattr(module, "TAKES_ROW_GATHER", False):
            xw0.check("xw0", "G", dtype)
            gather, xw0 = xw0, xw0.rows()                          # materialised here, scattered in backward
        if isinstance(xw0, ops.RowGather):
            T, N = xw0.check("xw0", "G", dtype)
        else:
            T, N, _ = checks.float_array("x", x, ("T", "N", self.input_size), dtype).shape if xw0 is None else \
                checks.float_array("xw0", xw0, ("T", "N", "G"), dtype).shape
        m = checks.mask_array(mask, T, N, dtype)
        states0 = self._split_state("state0", state0, N, dtype)
        rev = ops.reverse_index(m, T, N) if self.bidirectional else None
        inp, caches, keeps, finals, wkeeps = x, [], [], [], []
        for l in range(self.num_layers):
            keep = None
            if l > 0:                                              # x^(l) = dropout(y^(l-1))
                inp, keep = regularize.dropout(inp, self.dropout, rng, training, self.locked)
            outs, layer_caches, layer_wkeeps = [], [], []
            for d in range(self.dirs):
                x_d = inp if d == 0 else ops.time_gather(inp, rev)         # the reverse direction reads x[R]
                fold = {"xw": xw0} if l == 0 and xw0 is not None else {}
                cell_params = self._cell_params(params, l, d)
                wkeep = None
                if self.weight_drop:                               # W̃_h = W_h ⊙ M / (1 - p)
                    cell_params["W_h"], wkeep = regularize.weight_drop(cell_params["W_h"], self.weight_drop, rng,
                                                                       training)
                layer_wkeeps.append(wkeep)
                if self._regularised():                            # nn/lstm_reg.py: masks drawn here
                    if mask is not None:
                        raise ValueError("recurrent dropout and zoneout need sequences of one length (no mask)")
                    reg = regularize.lstm_masks(self.recurrent_dropout, self.zoneout, T, N, self.hidden_size, rng,
                                                training, dtype)
                    hs, final, cache = module.forward(x_d, cell_params, states0[l * self.dirs + d], **reg, **fold)
                else:
                    hs, final, cache = module.forward(x_d, cell_params, states0[l * self.dirs + d],
                                                      mask, **self.options, **fold)
                outs.append(hs if d == 0 else ops.time_gather(hs, rev))    # ... and its outputs are put back by R
                layer_caches.append(cache)
                finals.append(final)
            inp = outs[0] if self.dirs == 1 else np.concatenate(outs, axis=-1)   # y^(l) = [→h ; ←h]
            caches.append(layer_caches)
            keeps.append(keep)
            wkeeps.append(layer_wkeeps)
        return inp, self._join_state(finals), StackCache(caches, keeps, rev, dtype, gather, wkeeps)

    def backward(self, dhs: np.ndarray, cache: StackCache, dstate=None):
        """Backpropagate through every layer, direction and timestep.

        dhs: (T, N, dirs·H), dstate: gradient w.r.t. the final state (state layout) or None
        returns dx: (T, N, D), dstate0: the state layout, grads: one array per key of ``param_shapes()``
        """
        H, dirs = self.hidden_size, self.dirs
        dtype = cache.dtype
        checks.float_array("dhs", dhs, ("T", "N", dirs * H), dtype)
        N = dhs.shape[1]
        dstates = self._split_state("dstate", dstate, N, dtype)
        module, grads, dstate0 = self._module(), {}, [None] * (self.num_layers * dirs)
        dy = dhs
        for l in reversed(range(self.num_layers)):
            dinp = None
            for d in range(dirs):
                dh = dy[..., d * H:(d + 1) * H]
                if d == 1:
                    dh = ops.time_gather(dh, cache.rev)                    # outputs were gathered by R
                dx_d, dstate0[l * dirs + d], g = module.backward(np.ascontiguousarray(dh), cache.caches[l][d],
                                                                 dstates[l * dirs + d])
                if d == 1:
                    dx_d = ops.time_gather(dx_d, cache.rev)                # the input was gathered by R
                dinp = dx_d if dinp is None else dinp + dx_d       # both directions read x^(l)
                if cache.weight_keeps and cache.weight_keeps[l][d] is not None:   # dW_h = dW̃_h ⊙ M / (1 - p)
                    g["W_h"] = regularize.weight_drop_backward(g["W_h"], cache.weight_keeps[l][d])
                grads.update({f"{self.prefix(l, d)}.{k}": v for k, v in g.items()})
            dy = ops.dropout_backward(dinp, cache.keeps[l])        # x^(l) = dropout(y^(l-1)); a locked mask broadcasts
        if cache.gather is not None:                               # xw0 = table[ids]: δtable by scatter
            dy = ops.embedding_backward(dy, cache.gather.ids, cache.gather.table.shape[0])
        return dy, self._join_state(dstate0), {k: grads[k] for k in self.param_shapes()}

    def step(self, x_t: np.ndarray | None, params: dict, state=None, xw0: np.ndarray | None = None):
        """One timestep through every layer (no dropout), for decoding; unidirectional stacks only.

        x_t: (N, D), state: the state layout or None (zeros); xw0: (N, G·H) layer 0's x_t W_x + b already
        made (a row of the folded embedding's table, as forward's xw0; a cell with TAKES_ROW_GATHER), x_t
        then None
        returns out_t: (N, H) the top layer's output, state: the new state
        """
        if self.bidirectional:
            raise ValueError("step needs a unidirectional stack: a bidirectional one reads the whole "
                             "sequence (use forward)")
        dtype = self._check_params(params)
        module = self.kind.load()
        if xw0 is None:
            checks.float_array("x_t", x_t, ("N", self.input_size), dtype)
        elif not getattr(module, "TAKES_ROW_GATHER", False):
            raise ValueError(f"xw0 (a precomputed input projection) needs a cell that takes one; {self.cell!r} does not")
        N = (x_t if xw0 is None else xw0).shape[0]
        states = self._split_state("state", state, N, dtype)
        inp, new = x_t, []
        for l in range(self.num_layers):
            s = states[l]
            if s is None:
                s = np.zeros(self._row_shape(N), dtype)
                s = s if self.kind.state_parts == 1 else (s, s.copy())
            cell_params = self._cell_params(params, l, 0)
            given = {"xw": xw0} if l == 0 and xw0 is not None else {}
            s = module.step(inp, cell_params, s, **self.options, **given) if not self.zoneout else \
                regularize.zoneout_step(s, module.step(inp, cell_params, s, **given), self.zoneout)   # evaluation's mean
            new.append(s)
            inp = s[0] if self.kind.state_parts == 2 else (s[-1] if self.kind.window else s)   # the new h_t
            if hasattr(module, "output"):                          # a cell whose output is not its state
                inp = module.output(inp, cell_params, **self.options)
        return inp, self._join_state(new)

    # ------------------------------------------------------------------------------------------------
    # Helpers.

    def _cell_options(self, activation: str, extra: dict) -> dict:
        """All the cell's keyword options, activation included where the cell takes one."""
        options = self.kind.options + self.kind.init_options
        if "activation" in options:
            ops.activation(activation)                             # raises on an unknown name
            extra = {"activation": activation} | extra
        elif activation != "tanh":
            raise ValueError(f"activation applies only to cells that take one; {self.cell!r} does not")
        unknown = [k for k in extra if k not in options]
        if unknown:
            raise ValueError(f"cell {self.cell!r} takes no option {', '.join(unknown)} (its options: "
                             f"{', '.join(options) or 'none'})")
        module = self.kind.load()
        return module.resolve_options(extra) if hasattr(module, "resolve_options") else extra

    def _regularised(self) -> bool:
        return bool(self.recurrent_dropout or self.zoneout)

    def _module(self):
        """The cell module forward and backward run: the LSTM with recurrent dropout / zoneout when they are on."""
        if self._regularised():
            from unroll.nn import lstm_reg
            return lstm_reg
        return self.kind.load()

    def _row_shape(self, N: int) -> tuple:
        """One cell's state shape: (N, H), or (d, N, H) for a windowed cell."""
        window = () if self.kind.window is None else (self.options[self.kind.window],)
        return (*window, N, self.hidden_size)

    def _check_params(self, params: dict) -> np.dtype:
        """Check every parameter's key and shape (extra keys are ignored); return the dtype."""
        return checks.params_of("params", params, self.param_shapes())

    def _cell_params(self, params: dict, layer: int, direction: int) -> dict:
        prefix = self.prefix(layer, direction) + "."
        return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}

    def _split_state(self, name: str, state, N: int, dtype) -> list:
        """The state layout -> a list, per layer·dirs + direction, of the cell's state (or None)."""
        rows = self.num_layers * self.dirs
        if state is None:
            return [None] * rows
        shape = (rows, *self._row_shape(N))
        if self.kind.state_parts == 1:
            checks.float_array(name, state, shape, dtype)
            return list(state)
        if not isinstance(state, tuple) or len(state) != 2:
            raise ValueError(f"{name} must be a tuple (h, c) of arrays of shape {shape}, got {type(state).__name__}")
        h, c = (checks.float_array(f"{name}[{i}]", a, shape, dtype) for i, a in enumerate(state))
        return list(zip(h, c))

    def _join_state(self, states: list):
        """Inverse of ``_split_state``: a list of the cells' states -> the state layout."""
        if self.kind.state_parts == 1:
            return np.stack(states)
        return np.stack([s[0] for s in states]), np.stack([s[1] for s in states])

