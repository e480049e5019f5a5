"""The network section: every setting of a stack of recurrent layers, declared once (``StackConfig``).

The config.json of classify, tag, generate, seq2seq and forecast has a ``network`` section, one StackConfig
with the model's own defaults (``network_section(name, **defaults)``, the way ``Task.train_defaults``
changes TrainConfig's; the model module's ``NETWORK``, so that the CLI's and the constructor's defaults
are one); the language model's is ``ModelConfig`` (section ``model``, with V). The model builds
``Stack.from_config(network, input_size)`` and ``initialise(network, params, rng, dtype)``; ``check_read``
refuses what it would not read (``--dropout`` with one layer and no output dropout, ...)::

    unroll train --task tag --cell skip --skip-every 3 --hidden 32
      cli       --skip-every -> settings["network"].skip_every      (config.add_arguments reads these fields)
      task      SequenceTagger.from_config(network, ...)
      model     Stack.from_config(network, E)                         cell_options() -> {"d": 3}
      stack     CELLS["skip"].options holds "d": forward/step take it

A cell's own options are fields here too, each mapped to the option name its cell registers
(``CELL_OPTIONS``); which cells a field applies to is read from ``cells.CELLS`` (``register_cell``), so a
new cell with an option "alpha" takes ``--alpha`` without a line here. A field given for a cell that does
not take it is refused in one line naming the flag: ``--alpha applies to --cell leaky, not to --cell gru``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, make_dataclass, replace

from unroll.options import check_finite, check_positive, names, option
from unroll.nn.cells import CELLS

# field -> the option name the cells register (stack.register_cell's options / init_options)
CELL_OPTIONS = {"alpha": "alpha", "alpha_range": "alpha_range", "skip_every": "d", "skip_only": "only_skip", "depth": "depth",
                "shortcut": "shortcut", "activation": "activation"}
INIT_CELLS = {"forget_bias": ("lstm",), "recurrent_dropout": ("lstm",), "zoneout": ("lstm",)}   # one cell's settings


@dataclass(frozen=True)
class StackConfig:
    """A stack of recurrent layers: its cell, sizes, regularisers, initialisation and the cell's options."""

    cell: str = option("lstm", help="recurrent cell", choices="cells")
    hidden_size: int = option(128, "--hidden", "units per layer (and direction)")
    num_layers: int = option(1, "--layers", "recurrent layers")
    bidirectional: bool = option(False, help="read each sequence in both directions")
    embedding_size: int | None = option(None, "--embedding", "token embedding width (default: --hidden)")
    dropout: float = option(0.0, help="dropout between layers (and before the output layer where the model has one)")
    locked_dropout: bool = option(False, help="every dropout keeps one mask per sequence for all time steps "
                                              "(variational / locked dropout, Gal & Ghahramani)")
    weight_drop: float = option(0.0, help="DropConnect on every layer's recurrent weights W_h, one mask per batch "
                                          "(AWD-LSTM's weight drop; unroll/nn/regularize.py)")
    recurrent_dropout: float = option(0.0, help="--cell lstm: one dropout mask per sequence on h_{t-1} where it enters "
                                                "the gates (Gal & Ghahramani; nn/lstm_reg.py), sequences of one length")
    zoneout: float = option(0.0, help="--cell lstm: each unit keeps its previous h and c with this probability at "
                                      "each step (Krueger et al.; nn/lstm_reg.py), sequences of one length")
    activation: str = option("tanh", help="--cell rnn | leaky | skip | deep_transition | deep_output: the "
                                          "nonlinearity", choices="activations")
    init: str = option("default", help="initialiser: default | gaussian[:S] | xavier | orthogonal | identity[:S] | "
                                       "uniform:S (see unroll.nn.init.by_name)", metavar="NAME[:S]")
    init_scale: float | None = option(None, help="draw every weight from uniform(-s, s) "
                                                 "(default: PyTorch's initialisation)")
    embedding_init_scale: float | None = option(None, help="draw the token embeddings from uniform(-S, S) (Kim's "
                                                           "CNN-rand: 0.25; default: N(0, 1) as torch.nn.Embedding; "
                                                           "it wins over --init-scale for them)", metavar="S")
    forget_bias: float | None = option(None, help="--cell lstm: the forget gate's bias (default 1)")
    alpha: float | None = option(None, help="--cell leaky: one fixed leak α in [0, 1] for every unit "
                                            "(default: α learned per unit, initialised in (0.02, 0.2))")
    alpha_range: tuple[float, float] | None = option(None, help="--cell leaky: the learned α's initial values ~ "
                                                     "U(LOW, HIGH) (default 0.02 0.2)", metavar=("LOW", "HIGH"))
    skip_every: int | None = option(None, help="--cell skip: the delay d of the connection from h_{t-d} (default 2)")
    skip_only: bool = option(False, help="--cell skip: only connections of length d, none of length one")
    depth: int | None = option(None, help="--cell deep_transition | deep_output: layers of the MLP between "
                                          "h_{t-1} and h_t (default 2) | between h_t and the output (default 1)")
    shortcut: bool = option(False, help="--cell deep_transition: a skip connection from h_{t-1} into the MLP's "
                                        "last layer")

    def __post_init__(self):
        check_finite(self)
        if self.cell not in names("cells"):
            raise ValueError(f"--cell must be one of {', '.join(names('cells'))}, got {self.cell!r}")
        if self.activation not in names("activations"):
            raise ValueError(f"--activation must be one of {', '.join(names('activations'))}, got {self.activation!r}")
        check_positive(self, "hidden_size", "num_layers", "embedding_size")
        for name in ("dropout", "weight_drop", "recurrent_dropout", "zoneout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must lie in [0, 1), got {getattr(self, name)}")
        self._check_applies()
        if self.alpha is not None and self.alpha_range is not None:
            raise ValueError(f"give --alpha {self.alpha} (a fixed leak) or --alpha-range (a learned one's initial "
                             "values), not both")
        if self.init_scale is not None and self.init != "default":
            raise ValueError(f"give --init {self.init} or --init-scale {self.init_scale}, not both")
        if self.init_scale is not None and not self.init_scale > 0:
            raise ValueError(f"--init-scale must be positive, got {self.init_scale}")
        if self.embedding_init_scale is not None and not self.embedding_init_scale > 0:
            raise ValueError(f"--embedding-init-scale must be positive, got {self.embedding_init_scale}")
        from unroll.nn import init
        init.parse_spec(self.init)                              # a one-line error for a bad name or scale
        if self.cell_options():                                 # the cell's own checks (d >= 1, α in [0, 1] ...)
            from unroll.nn.stack import Stack
            Stack.from_config(self, 1)

    def _check_applies(self) -> None:
        """Each cell option only with a cell that registers it (read from stack.CELLS)."""
        for name in (*CELL_OPTIONS, *INIT_CELLS):
            if self.given(name) and self.cell not in cells_taking(name):
                raise ValueError(f"--{name.replace('_', '-')} applies to --cell {' | '.join(cells_taking(name))}, "
                                 f"not to --cell {self.cell}")

    def given(self, name: str) -> bool:
        """True when field ``name`` differs from StackConfig's own default (the flag was given)."""
        value, default = getattr(self, name), {f.name: f.default for f in fields(StackConfig)}[name]
        return value != default

    def cell_options(self) -> dict:
        """Stack's cell_options: the given cell options under their registered names (activation aside)."""
        return {CELL_OPTIONS[k]: getattr(self, k) for k in CELL_OPTIONS
                if k != "activation" and self.given(k) and self.cell in cells_taking(k)}


def cells_taking(name: str) -> tuple[str, ...]:
    """The registered cells that a network field applies to (``--alpha`` -> ("leaky",))."""
    if name in INIT_CELLS:
        return INIT_CELLS[name]
    return tuple(c for c, kind in CELLS.items() if CELL_OPTIONS[name] in (*kind.options, *kind.init_options))


def network_section(name: str, **defaults) -> type:
    """``StackConfig`` with other defaults (a task's or a model's): the same fields, flags and checks.

    >>> ClassifierNetwork = network_section("ClassifierNetwork", hidden_size=100, cell="gru")
    >>> ClassifierNetwork().hidden_size, ClassifierNetwork(hidden_size=8).cell
    (100, 'gru')
    """
    unknown = sorted(set(defaults) - {f.name for f in fields(StackConfig)})
    if unknown:
        raise ValueError(f"unknown network setting(s): {', '.join(unknown)}")
    spec = [(f.name, f.type, field(default=defaults.get(f.name, f.default), metadata=f.metadata))
            for f in fields(StackConfig)]
    cls = make_dataclass(name, spec, bases=(StackConfig,), frozen=True)
    cls.__module__, cls.defaults = __name__, dict(defaults)
    return cls


@dataclass(frozen=True)
class ModelConfig(network_section("LanguageModelNetwork", hidden_size=256, num_layers=2, cell="gru", dropout=0.2)):
    """The language model's network section: StackConfig's fields with the LM's defaults, and V.

    hidden_size defaults to 256: the size that `unroll train` has always used, because a 2×256 network
    trains for many more steps than a 2×512 one in the default 600 seconds on a small machine.
    dropout defaults to 0.2 (with the task's cosine schedule): the first study of docs/tune.md, where it
    beat no dropout at 600 s (1.4946 against 1.5267 nats/char); a config.json stores its dropout, so a
    run written before keeps its 0. cell defaults to gru (docs/tune.md, "The cell"): in 600 s on tiny
    Shakespeare, quiet, the GRU with these defaults reached 1.4414 nats/char (6,696 steps), torch.nn's 2x256
    LSTM 1.5686 in the same window; a config.json stores its cell, so older runs stay LSTMs.
    """

    vocab_size: int | None = option(None, cli=False)     # set from the vocabulary

    def __post_init__(self):
        if self.bidirectional:
            raise ValueError("--bidirectional: a left-to-right language model predicts token t+1 from tokens "
                             "1..t, and a backward direction would read token t+1 itself (the answer); use "
                             "bidirectional layers for classification, tagging or encoders")
        super().__post_init__()
        check_positive(self, "vocab_size")


TOKEN_EMBEDDINGS = ("embed.W", "src_embed.W", "tgt_embed.W")   # every model's token embeddings (V, E), by name


def initialise(network: StackConfig, params: dict, rng, dtype) -> dict:
    """Apply ``--init``, ``--forget-bias``, ``--init-scale`` and ``--embedding-init-scale`` to freshly drawn
    parameters (default: unchanged). The last redraws the token embeddings (``TOKEN_EMBEDDINGS``: a series'
    or a class label's embedding is none) from uniform(-S, S) after everything else, so the other
    parameters are drawn exactly as without it; a model with no token embedding refuses it."""
    from unroll.nn import init
    params = init.by_name(params, network.init, rng, network.forget_bias)
    if network.init_scale is not None:
        s = network.init_scale
        params = {k: rng.uniform(-s, s, v.shape).astype(dtype) for k, v in params.items()}
    if network.embedding_init_scale is not None:
        s, keys = network.embedding_init_scale, [k for k in TOKEN_EMBEDDINGS if k in params]
        if not keys:
            raise ValueError("--embedding-init-scale draws a token embedding, and this model reads no tokens "
                             "(vector input, series, or the long-term problems' one cell)")
        params = {**params, **{k: rng.uniform(-s, s, params[k].shape).astype(dtype) for k in keys}}
    return params


def stack_fields(network: StackConfig) -> dict:
    """{field: value} of the network section, for a model's keyword arguments."""
    return {f.name: getattr(network, f.name) for f in fields(StackConfig)}


__all__ = ["CELL_OPTIONS", "ModelConfig", "StackConfig", "cells_taking", "initialise", "network_section", "stack_fields"]


def of_keywords(section: type, given: dict, variant: dict, model: str) -> StackConfig:
    """A model's network section from its keyword arguments: ``given`` (its named ones) and ``variant`` (the
    other StackConfig fields, e.g. alpha=0.5, weight_drop=0.2); a keyword that is no network setting is named."""
    unknown = sorted(set(variant) - {f.name for f in fields(StackConfig)})
    if unknown:
        raise ValueError(f"{model} takes no option {', '.join(unknown)}")
    return section(**given, **variant)


def check_read(network: StackConfig, dropout_elsewhere: bool = False, embedding: bool = True,
               other_dropout: float = 0.0, state_of: str | None = None, padded: bool = True) -> None:
    """Refuse, in one line naming the flag, what a model would not read.

    dropout_elsewhere: the model also drops out before its output layer (then --dropout acts with one layer);
    embedding: the model embeds tokens (vector input and series do not); other_dropout: a dropout of the
    model's own (classify's --embedding-dropout) that --locked-dropout also shapes; state_of: what the model
    hands a state of shape (N, H) to (a decoder), which a windowed cell's (d, N, H) state cannot be; padded:
    the model reads sequences of different lengths under a mask (recurrent dropout and zoneout cannot).
    """
    if state_of and CELLS[network.cell].window:
        raise ValueError(f"--cell {network.cell}: {state_of} takes a state (N, H) per layer, and this cell's state is "
                         f"a window of its last d states (d, N, H); use rnn, lstm, gru, leaky or deep_transition")
    if network.dropout and network.num_layers == 1 and not dropout_elsewhere:
        raise ValueError(f"--dropout {network.dropout} acts between recurrent layers, and this model has one "
                         "(--layers 1): give --layers 2 or more, or leave --dropout out")
    if padded and (network.recurrent_dropout or network.zoneout):
        flag = "--recurrent-dropout" if network.recurrent_dropout else "--zoneout"
        raise ValueError(f"{flag} needs sequences of one length (--task lm, forecast); this model pads sequences "
                         "of different lengths")
    if network.locked_dropout and not (network.dropout or other_dropout):
        raise ValueError("--locked-dropout shapes the dropout masks, and no dropout is on (give --dropout P)")
    if not embedding and network.embedding_size not in (None, type(network)().embedding_size):
        raise ValueError("--embedding sizes a token embedding, and this model reads no tokens (vector input)")


def defaults(section: type) -> dict:
    """{field: default} of a network section class (a model's keyword defaults read from here)."""
    return {f.name: f.default for f in fields(section)}
