"""Frozen settings, one dataclass per concern, each the single source of its defaults.

- ``TrainConfig``: the training loop, the same for every task (optimizer, clipping, budget, seed ...).
- ``CorpusConfig``: the language model's text and vocabulary.
  ``BPTTConfig``: its truncated backpropagation through time (k1, k2). Other tasks define their own
  settings in their modules, the same way; every task's network is one ``nn/network.py`` StackConfig.

Every field is declared with ``option(default, flag, help)``: the CLI's flags are generated from the
fields (``add_arguments``), so a default cannot differ between the command line and the API, and a run
folder's ``config.json`` is ``asdict`` of the same dataclasses, read back by ``from_dict``. Lists of names
(cells, optimizers, tokenizers, vocabulary levels) come from the registries that define them.
"""

from __future__ import annotations

import argparse
import functools
import typing
from dataclasses import asdict, dataclass, field, fields, replace

from unroll.options import (REGISTRIES, check_encoding, check_finite, check_positive, finite_float, flag_of,  # noqa: F401
                           names, option)
from unroll.nn.network import ModelConfig, StackConfig  # noqa: F401  (the language model's and every task's network)

DEFAULT_MAX_TIME = 600.0     # seconds, when neither max_steps nor max_time is given

def _one_of(name: str, value, registry: str) -> None:
    allowed = names(registry)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _positive(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


# ----------------------------------------------------------------------------------------------------
# The training loop (every task).

@dataclass(frozen=True)
class TrainConfig:
    """How any task is trained. Tasks change some defaults through ``Task.train_defaults``."""

    batch_size: int = option(32, "--batch", "sequences per batch")
    optimizer: str = option("adam", help="update rule", choices="optimizers")
    lr: float = option(2e-3, help="learning rate")
    weight_decay: float = option(0.0, help="decoupled weight decay λ on every parameter: p ← p (1 - lr λ) each step "
                                           "with the scheduled rate (--optimizer adam: AdamW; sgd: torch's SGD "
                                           "weight_decay, the same step; train/optim.py); 0: off", metavar="WD")
    # The learning-rate schedule: the fields of train/schedule.py's LRSchedule, under the same names.
    schedule: str | None = option(None, help="learning-rate schedule (default: multistep when --milestones are "
                                             "given, exponential when --lr-decay < 1 is, else the task's default "
                                             "schedule: cosine from --lr to --min-lr over the budget (--max-steps, "
                                             "else to the --max-time deadline) for --task lm, classify and tag, "
                                             "constant for the others; --schedule constant keeps the rate fixed)",
                                  choices="schedules")
    default_schedule: str = option("constant", cli=False)   # the task's schedule when none is named (train_defaults)
    decay_rate: float = option(1.0, ("--decay-rate", "--lr-decay"), "exponential: multiply the learning rate by "
                               "this ... (multistep: at each milestone)")
    decay_every: int = option(1000, ("--decay-every", "--lr-decay-every"), "... every this many steps ...")
    decay_start: int = option(0, ("--decay-start", "--lr-decay-start"), "... from this step on")
    milestones: tuple[int, ...] = option((), help="multistep: the steps at which the rate is multiplied by "
                                                  "--decay-rate")
    total_steps: int | None = option(None, help="cosine, linear: steps from lr down to --min-lr (default --max-steps; "
                                                "with --max-time alone the decay follows the share of the time "
                                                "budget used and ends at the deadline)")
    min_lr: float = option(0.0, help="cosine, linear: the rate it ends at")
    warmup_steps: int = option(0, help="any schedule: ramp the first steps up linearly from lr/warmup_steps")
    clip: float = option(5.0, help="clip the global gradient norm (0: off)")
    clip_value: float = option(0.0, help="clip each gradient element (0: off)")
    max_steps: int | None = option(None, help="stop after this many updates")
    max_time: float | None = option(None, help=f"stop after this many seconds of training (default "
                                               f"{DEFAULT_MAX_TIME:.0f} when --max-steps is not given either); "
                                               "start-up and the final validation come on top")
    eval_every: int = option(500, help="validate and write a checkpoint every this many steps")
    log_every: int = option(50, help="write a metrics line every this many steps (more often when --max-steps "
                                     "would leave fewer than 100 lines to plot)")
    seed: int = option(0, help="the run's only source of randomness")
    tensorboard: bool = option(False, help="also write the metrics as TensorBoard event files in RUN_DIR/tensorboard "
                                           "(needs unroll[tensorboard])")
    lr_layer_decay: float = option(1.0, help="discriminative learning rates (ULMFiT): the output layer steps with --lr, "
                                             "each group below with F times the one above, the embedding lowest")
    unfreeze_every: int | None = option(None, help="gradual unfreezing: train the output layer alone, then one more "
                                                   "group below every N validations (unroll/train/finetune.py)")
    patience: int | None = option(None, help="stop after this many validations without a better value of the "
                                             "task's metric (the best checkpoint is kept in any case)")
    ema: float = option(0.0, help="keep an exponential moving average of the weights with this decay d (e.g. 0.999; "
                                  "warm-up min(d, (1 + step) / (10 + step))): validation, the best checkpoint and the "
                                  "saved model use the average, the raw weights train on (unroll/train/ema.py); 0: off",
                   metavar="DECAY")
    dtype: str | None = option(None, help="float32 | float64: the parameters' and activations' precision "
                                          "(default: the task's own: float32, float64 for --task forecast, whose "
                                          "networks are small; float64 for research and checks)",
                               choices=("float32", "float64"))

    def __post_init__(self):
        if self.max_steps is None and self.max_time is None:
            object.__setattr__(self, "max_time", DEFAULT_MAX_TIME)
        _one_of("optimizer", self.optimizer, "optimizers")
        if self.dtype not in (None, "float32", "float64"):
            raise ValueError(f"--dtype must be float32 or float64, got {self.dtype!r}")
        check_finite(self)
        check_positive(self, "batch_size", "eval_every", "log_every", "decay_every")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"--seed must be a non-negative integer, got {self.seed!r}")
        if not 0.0 < self.decay_rate <= 1.0:
            raise ValueError(f"decay_rate must lie in (0, 1], got {self.decay_rate}")
        self._default_schedule()
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        self._check_weight_decay()
        if self.patience is not None:
            _positive("patience", self.patience)
        if isinstance(self.ema, bool) or not isinstance(self.ema, (int, float)) or not 0.0 <= self.ema < 1.0:
            raise ValueError(f"--ema must lie in [0, 1) (a decay such as 0.999; 0: off), got {self.ema!r}")
        if self.unfreeze_every is not None:
            _positive("unfreeze_every", self.unfreeze_every)
        if not 0.0 < self.lr_layer_decay <= 1.0:
            raise ValueError(f"lr_layer_decay must lie in (0, 1], got {self.lr_layer_decay}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max-steps must be a positive integer, got {self.max_steps} (a run's step-0 "
                             "checkpoint holds its initial weights)")
        if self.max_time is not None and not self.max_time > 0:
            raise ValueError(f"max_time must be positive, got {self.max_time}")
        if self.clip < 0 or self.clip_value < 0:
            raise ValueError("clip and clip_value must be >= 0 (0 turns clipping off)")

    def _check_weight_decay(self) -> None:
        """--weight-decay: >= 0, and only with an optimizer that reads it (train/optim.py's DECAYING)."""
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, (int, float)) \
                or not self.weight_decay >= 0:
            raise ValueError(f"--weight-decay must be a number >= 0 (0: off), got {self.weight_decay!r}")
        if self.weight_decay and self.optimizer not in names("decaying optimizers"):
            readers = " or ".join(names("decaying optimizers"))
            raise ValueError(f"--weight-decay {self.weight_decay} acts with --optimizer {readers}, not with --optimizer "
                             f"{self.optimizer} (torch couples it to its moments as L2): give --weight-decay 0 (off)")

    def optimizer_options(self) -> dict:
        """The keyword options of make_optimizer these settings give ({} with no weight decay)."""
        return {"weight_decay": float(self.weight_decay)} if self.weight_decay else {}

    def _default_schedule(self) -> None:
        """schedule None: multistep when milestones are given, exponential when decay_rate < 1 (--lr-decay alone,
        as always), else the task's default_schedule (constant, the old default, unless the task's train_defaults
        say otherwise: a config.json written before default_schedule existed reads as what it ran with).
        cosine's and linear's total_steps default to max_steps, else (0) they decay over the max_time budget.
        A schedule setting that the schedule would not read is refused, naming both flags."""
        _one_of("default schedule", self.default_schedule, "schedules")
        named = self.schedule is not None
        if not named:
            chosen = ("multistep" if self.milestones else "exponential" if self.decay_rate < 1
                      else self.default_schedule)
            object.__setattr__(self, "schedule", chosen)
        _one_of("schedule", self.schedule, "schedules")
        object.__setattr__(self, "milestones", tuple(self.milestones))
        if self.total_steps is None:
            object.__setattr__(self, "total_steps", self.max_steps or 0)
        for flag, given, readers in (("--decay-rate/--lr-decay", self.decay_rate != 1.0, ("exponential", "multistep")),
                                     ("--milestones", bool(self.milestones), ("multistep",)),
                                     ("--min-lr", self.min_lr != 0.0, ("cosine", "linear"))):
            if given and self.schedule not in readers:
                value = {"--milestones": " ".join(map(str, self.milestones)), "--min-lr": self.min_lr}.get(
                    flag, self.decay_rate)
                raise ValueError(f"{flag} {value} acts only with --schedule {' or '.join(readers)}, not with "
                                 f"--schedule {self.schedule}{'' if named else ' (the default here)'}: leave it "
                                 "out, or name a schedule that reads it")
        if self.schedule == "multistep" and not self.milestones:
            raise ValueError("--schedule multistep needs --milestones (the steps at which the rate is multiplied "
                             "by --lr-decay)")

    def resumed(self, changes: dict) -> "TrainConfig":
        """These settings with ``changes`` from `train --resume` (runs/changes.py's RESUMABLE fields). A new
        budget replaces both old ones (--max-steps alone trains to that step with no time limit), and a
        cosine or linear decay whose length was the budget (total_steps = max_steps, or 0: the time budget)
        follows the new budget: it decays from where the run is towards the new end, so no step trains at
        an exhausted --min-lr."""
        changes = dict(changes)
        if "max_steps" in changes or "max_time" in changes:
            changes = {"max_steps": None, "max_time": None, **changes}
            if self.schedule in ("cosine", "linear") and self.total_steps == (self.max_steps or 0):   # DECAYS
                changes["total_steps"] = None
        return replace(self, **changes)


# ----------------------------------------------------------------------------------------------------
# The language model's text and BPTT (its network: models/language_model.py's ModelConfig).

@dataclass(frozen=True)
class CorpusConfig:
    """The text a language model reads and how it is cut into tokens."""

    data: str | None = option(None, help="UTF-8 text file to train on (default: bundled tiny Shakespeare)")
    valid: str | None = option(None, help="separate validation file (default: the last --valid-fraction of --data), "
                                          "or none: train on all of --data and validate nothing (tiny texts)")
    valid_fraction: float = option(0.1, help="share of --data held out for validation")
    level: str = option("char", help="tokens are characters or words", choices="levels")
    min_count: int = option(1, help="word level: rarer words become <unk>")
    tokenizer: str = option("punct", help="word level: punct (words and punctuation marks), space (pre-tokenized "
                                          "text such as Penn Treebank), exact (white space kept as tokens)",
                            choices="tokenizers")
    encoding: str = option("utf-8", help="text encoding of --data and --valid (e.g. latin-1)")

    def __post_init__(self):
        _one_of("level", self.level, "levels")
        _one_of("tokenizer", self.tokenizer, "tokenizers")
        for flag, given in (("--tokenizer", self.tokenizer != "punct"), ("--min-count", self.min_count != 1)):
            if given and self.level == "char":
                raise ValueError(f"{flag} applies to --level word, not to --level char (every character is a token)")
        check_encoding(self.encoding)
        check_finite(self)
        check_positive(self, "min_count")
        if not 0.0 < self.valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must lie in (0, 1), got {self.valid_fraction}")


@dataclass(frozen=True)
class BPTTConfig:
    """Truncated BPTT(k1, k2): read k1 new steps per batch, backpropagate through the last k2."""

    seq_len: int = option(100, "--seq-len", "k1: steps per batch (the state is carried across batches)")
    bptt: int | None = option(None, "--bptt", "k2 >= k1: steps backpropagated (default k1)")

    def __post_init__(self):
        check_positive(self, "seq_len")
        if self.bptt is not None and self.bptt < self.seq_len:
            raise ValueError(f"bptt (k2) must be >= seq_len (k1) = {self.seq_len}, got {self.bptt}")


# ----------------------------------------------------------------------------------------------------
# Dicts and command lines.

def from_dict(cls, values: dict):
    """Build ``cls`` from a dict, naming any key that the dataclass does not have."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}")
    hints = _hints(cls)
    values = {k: tuple(v) if _origin(hints[k]) is tuple and isinstance(v, list) else v for k, v in values.items()}
    return cls(**values)


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict:
    """typing.get_type_hints of a settings dataclass, read once (it evaluates every annotation)."""
    return typing.get_type_hints(cls)


def to_dict(config) -> dict:
    return asdict(config)


def defaults_of(cls, overrides: dict | None = None) -> dict:
    """{field: default} of dataclass ``cls`` as declared, with ``overrides`` (a task's train_defaults) applied."""
    values = {f.name: f.default for f in fields(cls)}
    unknown = sorted(set(overrides or {}) - set(values))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}")
    return {**values, **(overrides or {})}


def add_arguments(parser, cls, section: str, overrides: dict | None = None, exclude: tuple = ()) -> None:
    """Add one flag per CLI field of dataclass ``cls``; the parsed value lands in ``section.field``.

    overrides: {field: default} replacing the declared defaults (a task's train_defaults);
    exclude: fields the caller offers in another form (a positional argument)
    """
    defaults = defaults_of(cls, overrides)
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        meta = f.metadata
        if not meta.get("cli", True) or f.name in exclude:
            continue
        kind, nargs = _arg_type(hints[f.name])
        default, dest, help_text = defaults[f.name], f"{section}.{f.name}", meta.get("help", "")
        if kind is bool:                                 # on by default: --no-NAME turns it off
            action = argparse.BooleanOptionalAction if default else "store_true"
            parser.add_argument(*_flags(f, meta), action=action, dest=dest, help=help_text,
                                **({"default": True} if default else {}))
            continue
        if default not in (None, ()) and "default" not in help_text:
            help_text = (help_text + " " if help_text else "") + f"(default {_show(default)})"
        kwargs = dict(type=finite_float if kind is float else kind, default=default, dest=dest, help=help_text)
        if nargs:
            kwargs["nargs"] = nargs
        flag_name = _flags(f, meta)[0].lstrip("-").replace("-", "_").upper()
        kwargs["metavar"] = meta.get("metavar") or (None if meta.get("choices") else flag_name)
        if meta.get("choices"):
            choices = meta["choices"]
            kwargs["choices"] = names(choices) if isinstance(choices, str) else tuple(choices)
        parser.add_argument(*_flags(f, meta), **kwargs)


def from_args(cls, args: argparse.Namespace, section: str, overrides: dict | None = None):
    """The dataclass ``cls`` of ``section`` from parsed arguments (non-CLI fields keep their defaults)."""
    values = defaults_of(cls, overrides)
    for name in values:
        key = f"{section}.{name}"
        if hasattr(args, key):
            value = getattr(args, key)
            values[name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def _flags(f, meta) -> list[str]:
    flag = meta.get("flag") or "--" + f.name.replace("_", "-")
    return [flag] if isinstance(flag, str) else list(flag)


def _origin(hint):
    """typing's origin of a field's annotation, X | None read as X (tuple[float, float] | None -> tuple)."""
    return typing.get_origin(_optional(hint))


def _optional(hint):
    """X of X | None; any other annotation as it is."""
    args = typing.get_args(hint)
    if type(None) in args and len(args) == 2:
        return next(a for a in args if a is not type(None))
    return hint


def _arg_type(hint):
    """(element type, nargs) of a field's annotation: int | None -> (int, None); tuple[float, float] -> (float, 2)."""
    hint = _optional(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if _origin(hint) is tuple:
        return args[0], "*" if Ellipsis in args else len(args)
    if args:                                             # X | None
        return args[0], None
    return hint, None


def _show(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


__all__ = ["BPTTConfig", "CorpusConfig", "DEFAULT_MAX_TIME", "ModelConfig", "StackConfig", "TrainConfig", "add_arguments",
           "check_encoding", "check_finite", "check_positive", "defaults_of", "finite_float", "flag_of", "from_args",
           "from_dict", "names", "option", "to_dict"]
