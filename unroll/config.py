"""Frozen settings for models, training and sampling.

They are plain dataclasses so that a run folder's ``config.json`` is exactly ``asdict`` of them, and a
resumed run reads back the same values it started with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

CELLS = ("rnn", "lstm", "gru")
LEVELS = ("char", "word")
OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam")
TOKENIZERS = ("punct", "space", "exact")


def option(default, flag: str | tuple[str, ...] | None = None, help: str = "", choices: str | None = None,
           cli: bool = True, metavar=None):
    """A dataclass field that is also a CLI option (the CLI's flags are generated from such fields).

    flag: the option string(s) (default ``--field-name``); choices: the name of a registry; cli=False: not a flag
    """
    return field(default=default, metadata={"flag": flag, "help": help, "choices": choices, "cli": cli,
                                            "metavar": metavar})


@dataclass(frozen=True)
class ModelConfig:
    """A language model: embedding (V -> E), a stack of recurrent layers (H units each), linear output."""

    vocab_size: int
    hidden_size: int = 512
    num_layers: int = 2
    cell: str = "lstm"
    embedding_size: int | None = None   # None: E = H
    dropout: float = 0.0
    activation: str = "tanh"            # for cell == "rnn"
    init_scale: float | None = None     # None: PyTorch's initialisation; s: every weight ~ uniform(-s, s) (Zaremba)

    def __post_init__(self):
        _positive("vocab_size", self.vocab_size)
        _positive("hidden_size", self.hidden_size)
        _positive("num_layers", self.num_layers)
        if self.embedding_size is not None:
            _positive("embedding_size", self.embedding_size)
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.init_scale is not None and not self.init_scale > 0:
            raise ValueError(f"init_scale must be positive, got {self.init_scale}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainConfig:
    """How a language model is trained (the defaults are the ones `unroll train` uses)."""

    data: str | None = None             # None: the bundled tiny Shakespeare
    level: str = "char"
    min_count: int = 1                  # word level: rarer words become <unk>
    tokenizer: str = "punct"            # word level: "punct" | "space" (pre-tokenized, e.g. PTB) | "exact"
    valid_fraction: float = 0.1
    seq_len: int = 100                  # k1: steps per batch (the state is carried across batches)
    bptt: int | None = None             # k2: steps backpropagated every k1 steps (None: k2 = k1)
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 2e-3
    lr_decay: float = 1.0               # multiply the learning rate by this ...
    lr_decay_every: int = 1000          # ... every this many steps ...
    lr_decay_start: int = 0             # ... from this step on
    clip: float = 5.0                   # global-norm clipping (0: off)
    clip_value: float = 0.0             # elementwise clipping (0: off)
    max_steps: int | None = None
    max_time: float | None = None       # seconds
    eval_every: int = 500
    seed: int = 0

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {self.tokenizer!r}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ValueError(f"lr_decay must lie in (0, 1], got {self.lr_decay}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        for name in ("seq_len", "batch_size", "eval_every", "lr_decay_every", "min_count"):
            _positive(name, getattr(self, name))
        if self.bptt is not None and self.bptt < self.seq_len:
            raise ValueError(f"bptt (k2) must be >= seq_len (k1) = {self.seq_len}, got {self.bptt}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0.0 < self.valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must lie in (0, 1), got {self.valid_fraction}")
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}")
        if self.clip < 0 or self.clip_value < 0:
            raise ValueError("clip and clip_value must be >= 0 (0 turns clipping off)")


def from_dict(cls, values: dict):
    """Build ``cls`` from a dict, naming any key that the dataclass does not have."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}")
    return cls(**values)


def to_dict(config) -> dict:
    return asdict(config)


def _positive(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
