"""The task protocol: what a task supplies so that one trainer, one run folder and one CLI serve it.

A *task* is a data format, a model, and the numbers that say how well the model does. Everything else a
run needs (run folder, atomic checkpoints, bit-identical resume, NaN rollback, progress line, metrics log,
``--max-time``, validation, ``unroll plot``) is written once, in ``unroll.train``, and knows no task.

The pieces, and who calls them::

    unroll train --task NAME [task flags] [training flags]
      cli         flags <- the fields of Task.sections' dataclasses and of TrainConfig (config.option metadata)
      runs/run    task = Task(settings)            settings: {section name: dataclass instance,
                                                              "train": the TrainConfig}
                  prepared = task.prepare()        new run only: read data, build vocabularies / label sets;
                                                   JSON-able, stored in config.json beside the settings
                  model = task.build_model(seed)   a Model (below)
                  task.warm_start(model)           new run only: e.g. weights of task.pretrained (--init-from)
                  batches = task.batches(train)    a Batches iterator (below)
      trainer     each step:
                    batch = next(batches)
                    if batches.reset_state: state = None
                    loss, grads, state = task.loss_and_grads(model, batch, state)
                    clip, optimizer step
                  every eval_every steps: task.metrics(model, "valid") -> {"loss": ..., ...}
                  logged as valid_loss, valid_<name>; stop early when task.done(metrics)
                  best checkpoint (RUN_DIR/best/) and --patience by task.monitor(), e.g. ("accuracy", "max")
                  checkpoint: model params, optimizer, batches, carried state, RNG, counters, by name
    unroll eval RUN [--data FILE]    task.metrics(model, "valid" or FILE), printed by task.describe
    unroll predict RUN [FILE|-]      task.predict(model, lines, options): one output line per input line

Resuming, evaluating and predicting rebuild the task from the run folder: ``Task(settings, prepared)``
with the ``prepared`` dict that ``prepare()`` returned when the run started (the vocabulary is never
rebuilt from data).

**A Model** (``models/``) supplies

    params                                  dict {name: array}, updated in place by the optimizer
    loss_and_grads(batch, state=None)       -> (loss: float, grads: dict with the keys of params, state)
    rng (optional)                          np.random.Generator used while training (dropout); checkpointed

A stateless model returns ``state=None``. A model whose state carries over to the next batch (the
language model, trained by truncated BPTT) returns it, and the trainer hands it back on the next step;
it is saved in every checkpoint (any nesting of None, arrays, tuples, lists and dicts of str keys).
``Task.loss_and_grads(model, batch, state)`` is the one call the trainer makes per step; by default it is
``model.loss_and_grads(batch, state)``. The language-model task overrides it to run truncated BPTT(k1, k2),
whose carried state is (hidden state, the last k2 - k1 input steps).

**Batches** (returned by ``Task.batches``) is an endless iterator of batches of whatever shape the task's
model takes, with

    epoch: int                      passes over the training data completed (0 for generated data)
    reset_state: bool               True when the batch just returned starts new sequences (the carried
                                    state belongs to other text and is dropped); stateless tasks: False
    state_dict() -> (arrays, scalars)      arrays: {name: np.ndarray}; scalars: JSON-able dict
    load_state_dict(arrays, scalars)       resume so that the next batch is exactly the one that would
                                           have come (a one-line ValueError if the state does not fit)

``state_dict() -> (arrays, scalars)`` / ``load_state_dict(arrays, scalars)`` is the one state protocol of
everything that lives in a checkpoint (optimizer, batches, carried state, RNG, counters).

Worked example: a task that learns the mean of a sequence of numbers. ``tests/tasks/test_protocol.py``
holds it in full and runs it through the real CLI, trainer and run folder (train, eval, predict, resume
bit-identical) after registering it with ``register_task("mean", module)``::

    from dataclasses import dataclass
    import numpy as np
    from unroll.config import option
    from unroll.tasks.base import GeneratedBatches, Task

    @dataclass(frozen=True)
    class MeanConfig:
        T: int = option(5, "--T", "sequence length")
        hidden: int = option(8, "--hidden", "units")

    class MeanModel:                                     # h_t = tanh(x_t W_x + h_{t-1} W_h + b); ŷ = h_T w
        def __init__(self, H, rng):
            from unroll.nn import rnn
            self.cell = rnn
            self.params = {f"cell.{k}": v for k, v in rnn.init(1, H, rng, np.float64).items()}
            self.params["out.w"] = rng.standard_normal((H, 1)) / H

        def loss_and_grads(self, batch, state=None):
            x, y = batch                                 # x (T, N, 1), y (N, 1)
            cell = {k[5:]: v for k, v in self.params.items() if k.startswith("cell.")}
            hs, _, cache = self.cell.forward(x, cell)
            diff = hs[-1] @ self.params["out.w"] - y
            dhs = np.zeros_like(hs)
            dhs[-1] = (2 / diff.size) * diff @ self.params["out.w"].T
            _, _, g = self.cell.backward(dhs, cache)
            grads = {f"cell.{k}": v for k, v in g.items()}
            grads["out.w"] = hs[-1].T @ ((2 / diff.size) * diff)
            return float(np.mean(diff ** 2)), grads, None   # stateless

    class MeanTask(Task):
        name, help = "mean", "predict the mean of T numbers"
        sections = {"mean": MeanConfig}
        train_defaults = {"lr": 1e-2, "max_steps": 200}

        def prepare(self):
            return {}                                    # nothing to learn from data

        def make_batch(self, N, rng):
            x = rng.uniform(-1, 1, (self.settings["mean"].T, N, 1))
            return x, x.mean(axis=0)

        def batches(self, train):
            return GeneratedBatches(self.make_batch, train.batch_size, self.stream(train.seed, "train"))

        def build_model(self, seed, dtype=np.float64):
            return MeanModel(self.settings["mean"].hidden, self.stream(seed, "init"))

        def metrics(self, model, split):
            loss, _, _ = model.loss_and_grads(self.make_batch(256, self.stream(0, split)))
            return {"loss": loss}

        def predict(self, model, lines, options):
            for line in lines:                           # "0.1 0.5 -0.2" -> "0.133"
                x = np.array(line.split(), float)[:, None, None]
                ...                                      # run the model, yield one line per input line

A task module ends with ``TASK = MeanTask`` and is listed in ``unroll.tasks.TASKS``; nothing else needs to
change for ``unroll train --task mean --T 7``, ``unroll eval RUN`` and ``unroll predict RUN`` to work.

Published by another package, the same task is one entry point in that package's pyproject.toml
(``tests/tasks/test_entry_points.py`` installs it so and trains it through the CLI)::

    [project.entry-points."unroll.tasks"]
    mean = "mean_task:MeanTask"          # or "mean_task", a module ending in TASK = MeanTask

A task's own commands are ``unroll.command.Command`` records in ``commands`` (the language model's
``sample``); one that reads a run declares ``needs="run"`` and receives it loaded. Its page in ``unroll
serve`` is one line naming the module whose ``PAGE`` (an ``unroll.command.Page``: HTML section, script,
calls) draws it, e.g. ``page = "unroll.tasks.probes.classify"``; the calls use the task's public
``tokens(text)`` and ``encode(text)``, never its privates::

    # mean_page.py
    def mean(task, model, body, limits):               # POST /api/run/NAME/mean {"values": [...]}
        x = np.array(body["values"], float)[:, None, None]
        return {"mean": float(model.predict(x)[0])}

    PAGE = Page("<button id='mean'>mean</button>", Path(__file__).with_suffix(".js"), calls={"mean": mean})

    class MeanTask(Task):
        page = "mean_page"
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Iterable, Iterator

import numpy as np

from unroll.data.synthetic import GeneratedBatches  # noqa: F401  (re-exported: tasks and the worked example import it here)


class Task(abc.ABC):
    """Base class of every task; see the module docstring for the contract and a worked example.

    settings: {section name: dataclass instance} for every entry of ``sections``, and "train": the run's
        TrainConfig (batch size, seed) when the task runs inside the trainer
    prepared: what ``prepare()`` returned when the run started (None before ``prepare`` on a new run)
    """

    name: ClassVar[str]                          # the --task name
    help: ClassVar[str] = ""                     # one line for `unroll train --help`
    sections: ClassVar[dict[str, type]] = {}     # config.json section -> frozen dataclass; its fields are CLI flags
    train_defaults: ClassVar[dict[str, Any]] = {}    # TrainConfig fields whose default this task changes
    absent_settings: ClassVar[dict[str, dict]] = {}  # {section: {field: value}} a config.json without the field
                                                     # ran with (a default changed after the field was added)
    predict_options: ClassVar[type | None] = None    # dataclass whose fields are `unroll predict` flags
    splits: ClassVar[tuple[str, ...]] = ("valid",)   # names metrics() accepts besides a file path
    per_sequence: ClassVar[tuple[str, ...]] = ()     # batch fields of shape (N, ...), split along N by ``shard``
    commands: ClassVar[tuple] = ()               # the task's own unroll.command.Command's (lm: sample)
    page: ClassVar[str | None] = None            # module whose PAGE is the task's page in unroll serve
    predict_reads: ClassVar[str | None] = "INPUT"    # None: predict reads no input (a positional INPUT is refused)

    def __init__(self, settings: dict[str, Any], prepared: dict | None = None):
        missing = sorted(set(self.sections) - set(settings))
        if missing:
            raise ValueError(f"task {self.name} needs the settings section(s) {', '.join(missing)}")
        self.settings = dict(settings)
        self.prepared = prepared

    # ------------------------------------------------------------------------------------------------
    # What every task writes.

    @abc.abstractmethod
    def prepare(self) -> dict:
        """A new run: read the data, build vocabularies / label sets, set ``self.prepared`` and return it.

        The dict is JSON-able and goes into the run folder's config.json (its keys must differ from the
        section names and from "train", "task", "format", "unroll_version", "created"). It may also update
        ``self.settings`` (e.g. fill the model's vocabulary size); the settings are written after it.
        """

    @abc.abstractmethod
    def batches(self, train) -> "Batches":
        """The training batches for ``train`` (a TrainConfig: batch_size, seed); see Batches."""

    @abc.abstractmethod
    def build_model(self, seed: int, dtype=np.float32):
        """A fresh model (a Model: params, loss_and_grads, optional rng), initialised from ``seed``."""

    @abc.abstractmethod
    def metrics(self, model, split: str) -> dict:
        """Numbers on one split (no dropout): at least {"loss": float}; the trainer logs each as valid_<name>.

        split: one of ``splits`` or the path of a file in the task's data format (``unroll eval --data``).
        """

    # ------------------------------------------------------------------------------------------------
    # What a task may override.

    def loss_and_grads(self, model, batch, state=None):
        """One training step's loss, gradients and carried state; by default the model's own."""
        return model.loss_and_grads(batch, state)

    def predict(self, model, lines: Iterable[str], options) -> Iterator[str]:
        """Stream one output line per input line (labels with probabilities, tags, generated text ...).

        options: an instance of ``predict_options`` (or None); bad input: a one-line ValueError naming the line.
        """
        raise ValueError(f"task {self.name} does not predict")

    pretrained = None   # a new run whose init_from() names a run folder: that run, loaded (unroll.runs.load)

    def init_from(self) -> str | None:
        """A run folder whose weights start a new run (``--init-from``), or None. The runs floor loads it (best
        checkpoint) into ``self.pretrained`` before ``prepare()``; a task never reads run folders itself."""
        return None

    def warm_start(self, model) -> None:
        """A new run only, after build_model: set parameters from elsewhere (``self.pretrained``); by default none."""

    def monitor(self) -> tuple[str, str]:
        """(metric name in ``metrics()``, "min" or "max"): what the best checkpoint and --patience watch."""
        return "loss", "min"

    def check_data(self) -> None:
        """Read and encode every other split the run will use (its ``--valid`` file) now, raising the one-line
        ValueError that validation would raise later: a new run calls it before its folder exists.

        The training split is checked by ``batches``; by default there is nothing else to check.
        """

    def check_prepared(self) -> None:
        """A loaded run: parse what ``prepare()`` stored now (vocabulary, data record), so that a damaged
        config.json is a one-line error when the run is read, not in the middle of a command."""

    def done(self, metrics: dict) -> bool:
        """True to stop training early after a validation with these metrics (e.g. a target loss reached)."""
        return False

    def shard(self, batch, rank: int, size: int):
        """This rank's part of a global batch for data-parallel training: sequences rank·N//P .. (rank+1)·N//P.

        N need not be a multiple of P (the reduction weights each rank by ``weight``, so unequal parts give
        the one-process mean). By default a batch is one time-major array (T, N, ...) or a tuple (a
        NamedTuple too) of them, split along N; ``per_sequence`` names fields of shape (N, ...) split along
        axis 0 (labels, condition vectors).
        """
        arrays = batch if isinstance(batch, (tuple, list)) else (batch,)
        names = getattr(batch, "_fields", ())
        axes = [0 if (names and names[i] in self.per_sequence) else 1 for i in range(len(arrays))]
        sizes = {np.shape(a)[axis] if np.ndim(a) > axis else None for a, axis in zip(arrays, axes)}
        if len(sizes) != 1 or None in sizes:
            raise ValueError(f"task {self.name} does not say how to split its batches across processes")
        N = sizes.pop()
        part = slice(rank * N // size, (rank + 1) * N // size)
        pieces = [a[part] if axis == 0 else a[:, part] for a, axis in zip(arrays, axes)]
        if names:
            return type(batch)(*pieces)
        return tuple(pieces) if isinstance(batch, (tuple, list)) else pieces[0]

    def count(self, batch) -> int:
        """Tokens (or steps) in a batch, for the tokens/s figure; by default T·N of the batch's first array."""
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        return int(np.prod(np.shape(first)[:2]))

    def weight(self, batch) -> float:
        """What the batch's loss is a mean over (its real tokens, or sequences): each rank's weight in the
        data-parallel reduction (0 for an empty part). By default ``count``."""
        return self.count(batch)

    def tokens(self, text: str) -> list[str]:
        """The tokens of one line of input text, as the run's vocabulary cuts them (its level and tokenizer).
        Token tasks define it (classify, tag, generate); serve's pages and predict call it."""
        raise ValueError(f"--task {self.name} does not read text tokens")

    def encode(self, text: str) -> np.ndarray:
        """The vocabulary ids (T,) int64 of ``tokens(text)``; a token outside the vocabulary is its unknown id."""
        raise ValueError(f"--task {self.name} does not read text tokens")

    def describe(self, metrics: dict) -> str:
        """One line for `unroll eval`."""
        return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())

    def summary(self, model, log: list[dict]) -> dict:
        """Results when training ends, written to the run folder's result.json when not empty.

        log: every record of the run's metrics.jsonl (events included)
        """
        return {}

    # ------------------------------------------------------------------------------------------------
    # Helpers.

    @staticmethod
    def stream(seed: int, purpose: str) -> np.random.Generator:
        """An independent generator for one purpose ("init", "train", "valid", "test", ...) of one seed."""
        key = [ord(c) for c in purpose]
        return np.random.default_rng(np.random.SeedSequence([seed, *key]))


Batches = Any   # the protocol in the module docstring: iterator + epoch + reset_state + state_dict/load_state_dict
