"""Sequences of real vectors for classify, tag and the source side of seq2seq (issue 22).

    unroll train --task classify --data walks.csv          a long CSV, a .ts archive file or an .npz:
    unroll train --task tag --data frames.npz              the suffix picks vector input (or --input vectors)
    unroll train --task seq2seq --data clips.csv           vector sources, text targets (the label column)
    unroll eval RUN [--data test.ts]    unroll predict RUN test.csv     the same formats, the run's columns

Each token task is wrapped by ``with_vectors(TokenTask, VectorPart)``: the wrapped task has one more
settings section, ``vectors`` (VectorConfig), and hands prepare / batches / build_model / metrics /
predict to its VectorPart when the run reads vectors, to the token task otherwise. A token run whose
text is numbers gets a warning that points here (a TSV of numbers used to train silently on digit words).

What a vector run stores in config.json (beside the task's settings)::

    "input": "vectors", "features": D, "feature_names": [...], "max_length": longest training sequence,
    "scaler": {"mean": [D], "std": [D]} fitted on the training split only (null with --no-standardize),
    "data_sha256", and the task's label set ("labels" | "tags" | "tgt_vocab").

The model reads standardised x (T, N, D) through ``models.inputs.VectorInput``: "linear" (the stack's own
W_x reads the features) or "mlp" (one tanh layer of --input-width units first).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields

import numpy as np

from unroll.config import flag_of, option
from unroll.data import vectors as V
from unroll.data.vector_formats import read_vectors
from unroll.models.inputs import KINDS, MLP_ACTIVATIONS, VectorInput
from unroll.tasks import labelled as L

INPUTS = ("auto", "tokens", "vectors")


@dataclass(frozen=True)
class VectorConfig:
    input: str = option("auto", help="tokens | vectors | auto (vectors for .csv, .ts and .npz data; a .tsv long "
                                            "file needs vectors)",
                        choices=INPUTS)
    id_col: str | None = option(None, help="vector CSV: the sequence id column (default: id, series_id, ...)")
    time_col: str | None = option(None, help="vector CSV: the time column, increasing within a sequence "
                                             "(default: time, timestamp, t, step, ... if present)")
    label_col: str | None = option(None, help="vector CSV: the label column (default: label, class, target, tag)")
    feature_cols: str | None = option(None, help="vector CSV: comma-separated feature columns (default: the rest)")
    missing: str = option("none", help="missing or NaN values: none (refuse) | ffill | zero", choices=V.MISSING)
    input_layer: str = option("linear", help="vectors: linear (the stack reads the features) | mlp (one layer "
                                             "first)", choices=KINDS)
    input_width: int | None = option(None, help="vectors, --input-layer mlp: its units (default: --hidden)")
    input_activation: str = option("tanh", help="vectors, --input-layer mlp: tanh | relu", choices=MLP_ACTIVATIONS)
    no_standardize: bool = option(False, help="vectors: feed raw features (default: standardise with the "
                                              "training split's mean and std)")


def with_vectors(task_cls, part_cls):
    """A subclass of the token task ``task_cls`` that reads vectors through ``part_cls`` when asked to."""

    class WithVectors(task_cls):
        sections = {**task_cls.sections, "vectors": VectorConfig}
        optional_sections = ("vectors",)
        __doc__ = task_cls.__doc__

        def __init__(self, settings, prepared=None):
            settings = {"vectors": VectorConfig(), **settings}
            super().__init__(settings, prepared)
            self.vec = part_cls(self) if self._reads_vectors() else None
            if prepared is None:                         # a new run: refuse the flags its input kind would not read
                refuse_unread(self.settings[part_cls.section], part_cls.token_only, self.settings["vectors"],
                              self.vec is not None)

        def _reads_vectors(self) -> bool:
            if self.prepared is not None:
                return self.prepared.get("input") == "vectors"
            choice = self.settings["vectors"].input
            data = part_cls.data_path(self)
            return choice == "vectors" or (choice == "auto" and data is not None and V.is_vector_file(data))

        def prepare(self):
            if self.vec is None:
                warn_if_numeric(part_cls.data_path(self), self.name)
                return super().prepare()
            if self.init_from():
                raise ValueError(f"--init-from {self.init_from()}: a language model's weights start a model of "
                                 "tokens, and this run reads vectors (there is no embedding to copy)")
            self.prepared = self.vec.prepare()
            return self.prepared

        def batches(self, train):
            if self.vec is None:
                return super().batches(train)
            L.check_digest(self.prepared, self.vec.data_files())     # a resumed run reads the data it started with
            return self.vec.batches(train)

        def check_data(self):
            if self.vec is None:
                return super().check_data()
            self.vec.encoded("valid")                    # the held-out part or --valid: before the folder exists

        def build_model(self, seed, dtype=np.float32):
            return self.vec.build_model(seed, dtype) if self.vec else super().build_model(seed, dtype)

        def metrics(self, model, split):
            return self.vec.metrics(model, split) if self.vec else super().metrics(model, split)

        def predict(self, model, lines, options):
            if self.vec:
                raise ValueError("a vector run predicts from a file: unroll predict RUN FILE (.csv, .tsv, .ts, .npz)")
            return super().predict(model, lines, options)

        def predict_file(self, model, path, options):
            """Output lines for a vector file, or None for a token run (the CLI then reads lines)."""
            return self.vec.predict(model, path, options) if self.vec else None

    WithVectors.__name__ = WithVectors.__qualname__ = task_cls.__name__
    WithVectors.__module__ = task_cls.__module__
    return WithVectors


def refuse_unread(section, token_only: tuple[str, ...], vectors: VectorConfig, reads_vectors: bool) -> None:
    """A flag of the other input kind, changed from its default, is refused in one line naming it."""
    if reads_vectors:
        given = [n for n in token_only if getattr(section, n) != getattr(type(section)(), n)]
        if given:
            raise ValueError(f"{flag_of(section, given[0])} applies to token input, and this run reads vectors")
        return
    given = [f.name for f in fields(VectorConfig) if f.name != "input" and getattr(vectors, f.name) != f.default]
    if given:
        raise ValueError(f"{flag_of(vectors, given[0])} applies to vector input (.csv, .ts, .npz data or --input "
                         "vectors), and this run reads tokens")


def warn_if_numeric(path, task_name: str) -> None:
    """A token task given a text of numbers: say where the vector input is (it would train on digit words)."""
    files = L.data_files(path) if path else []
    for file in files[:1]:
        try:
            with open(file, encoding="utf-8", errors="replace") as f:
                lines = [line.split("\t", 1)[-1] for _, line in zip(range(200), f)]
        except OSError:
            return
        if V.looks_numeric(lines):
            print(f"unroll: warning: {file}: the examples are numbers; --task {task_name} reads them as word tokens. "
                  "For sequences of real vectors use a .csv (long format), .ts or .npz file, or --input vectors "
                  "(docs/vectors.md)", file=sys.stderr)


class VectorPart:
    """What the vector side of every task shares: reading, the held-out split, standardisation, batches.

    Subclasses set ``section`` (the token task's data section), ``per_step`` (a label per row) and
    ``label_key`` (the prepared key of the label set), and write build_model / metrics / predict.
    """

    section: str
    per_step = False
    token_only: tuple[str, ...] = ()   # fields of the task's section that only token input reads (refused on vectors)

    def __init__(self, task):
        self.task = task

    @classmethod
    def data_path(cls, task):
        return getattr(task.settings[cls.section], "data", None)

    @property
    def cfg(self):
        return self.task.settings[self.section]

    @property
    def v(self) -> VectorConfig:
        return self.task.settings["vectors"]

    @property
    def prepared(self) -> dict:
        return self.task.prepared

    def read(self, path, labelled: bool = True) -> V.VectorSet:
        v = self.v
        columns = V.Columns(v.id_col, v.time_col, v.label_col, v.feature_cols)
        data = read_vectors(path, columns, self.per_step, v.missing, labelled)
        if self.prepared is not None and "features" in self.prepared:
            V.check_widths(data, self.prepared["features"])
        return data

    def split(self, n: int):
        if self.cfg.valid is not None:
            return np.arange(n), None
        return L.split_indices(n, self.cfg.valid_fraction)

    def sets(self, split: str) -> V.VectorSet:
        """The sequences of "train", "valid" (held out of --data, or --valid) or a file."""
        if split in ("train", "valid") and not (split == "valid" and self.cfg.valid):
            if self.cfg.data is None:
                raise ValueError(f"--task {self.task.name} needs --data")
            data = self.read(self.cfg.data)
            train_idx, valid_idx = self.split(len(data))
            keep = train_idx if split == "train" else valid_idx
            return V.VectorSet(data.source, [data.ids[i] for i in keep], [data.xs[i] for i in keep],
                               [data.labels[i] for i in keep], data.features)
        return self.read(self.cfg.valid if split == "valid" else split)

    def prepare_common(self, train: V.VectorSet) -> dict:
        return {"input": "vectors", "features": train.xs[0].shape[1], "feature_names": train.features,
                "scaler": None if self.v.no_standardize else V.fit_scaler(train.xs),
                "max_length": max(len(x) for x in train.xs),
                "data_sha256": L.file_digest(self.data_files())}

    def data_files(self) -> list[str]:
        return [p for p in (self.cfg.data, self.cfg.valid) if p]

    def inputs(self, xs, dtype=None) -> list[np.ndarray]:
        """The standardised sequences in the run's precision (--dtype; float32 by default)."""
        dtype = dtype or self.task.settings["train"].dtype or np.float32
        return V.apply_scaler(xs, self.prepared["scaler"], dtype)

    def input_layer(self, hidden: int) -> VectorInput:
        v = self.v
        return VectorInput(self.prepared["features"], v.input_layer, v.input_width or hidden, v.input_activation)

    def check_lengths(self, data: V.VectorSet) -> None:
        for sid, x in zip(data.ids, data.xs):
            L.check_length(f"{data.source}: sequence {sid}", len(x), self.prepared["max_length"])

    def eval_batches(self, xs, dtype, batch_size: int = 128):
        """(index array, x (T, N, D), mask (T, N)) covering every sequence once, by length."""
        for index in L.eval_order([len(x) for x in xs], batch_size):
            x, mask = V.pad_vectors([xs[i] for i in index], dtype)
            yield index, x, mask
