"""The input kind of classify, tag and seq2seq as a part: tokens or real vectors (issues 22 and 28).

A task holds ``self.inputs``, chosen once in its ``__init__`` by ``choose`` (the run's stored "input",
else --input, else the --data suffix), and writes one prepare, one batches, one build_model, one
metrics and one predict over what the part hands it::

    task                           TokenInputs                        VectorInputs
    inputs.read(split)             rows of the task's text format     a .csv/.tsv/.ts/.npz file (VectorConfig)
      -> Examples(source, unit, keys, items, labels)   items: token lists (seq2seq: lines) | raw x (T_n, D)
    inputs.prepare(train)          vocab, max_length, data_sha256     input, features, feature_names, scaler,
                                   (--init-from: the LM's vocabulary)   max_length, data_sha256
    inputs.encode(items)           ids int64 (T_n,)                   standardised x (T_n, D) in the run's dtype
    inputs.pad(seqs)               ids (T, N), mask (T, N)            x (T, N, D), mask (T, N)
    inputs.eval_batches(seqs, dt)  (index, x, mask) covering each sequence once, by length
    inputs.model_input(hidden)     (vocab size, None)                 (None, VectorInput: linear | mlp)
    inputs.read_for_predict(path)  None (the CLI reads lines)         (sequence ids, encoded sequences)
    inputs.from_lines()            nothing                            refuses: a vector run predicts from a file
    inputs.encode_one(item, where) seq2seq's sources: one encoded and its length checked (an error names ``where``)

``split`` is "train", "valid" (held out of --data, or the --valid file), "data" (all of --data) or the
path of a file. The labels
of ``Examples`` stay raw (a class, a tag per step, a target text): the task maps them to its label set,
the same way for both kinds. ``Examples.unit`` and ``keys`` name an item in an error ("example 3",
"sequence s17"). What the vector kind stores in config.json is told in ``tasks/vectors.py``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from unroll.data import vectors as V
from unroll.data.vector_formats import read_vectors
from unroll.models.inputs import VectorInput
from unroll.tasks import labelled as L
from unroll.tasks import pretrained
from unroll.tasks.vectors import refuse_unread, warn_if_numeric


class Examples(NamedTuple):
    source: str              # the file they came from (errors name it)
    unit: str                # "example" | "sequence"
    keys: list               # each item's name in an error: its line or sequence number, or its sequence id
    items: list              # token lists | raw vectors (T_n, D)
    labels: list             # raw labels: a class, a list of tags, a target text
    features: list | None = None     # vectors: the feature names


def choose(task, section: str, token_only: tuple[str, ...], tokens: dict, per_step: bool = False, token_part=None):
    """The task's input part; a new run refuses the flags its input kind would not read (one line).

    section: the task's data section (data, valid, valid_fraction ...); token_only: its fields that only
    token input reads; tokens: the token part's keyword arguments (the task's text reader and split);
    token_part: the token kind's class (TokenInputs; seq2seq's sources: tasks/seq2seq_data.PairSources)."""
    cfg, vectors = task.settings[section], task.settings["vectors"]
    if task.prepared is not None:
        reads_vectors = task.prepared.get("input") == "vectors"
    else:
        data = getattr(cfg, "data", None)
        reads_vectors = vectors.input == "vectors" or (vectors.input == "auto" and data is not None
                                                       and V.is_vector_file(data))
        refuse_unread(cfg, token_only, vectors, reads_vectors)
    return VectorInputs(task, section, per_step) if reads_vectors else (token_part or TokenInputs)(task, section,
                                                                                                  **tokens)


class InputPart:
    """What both kinds share: the data section, reading a split, batches, the data's digest."""

    kind: str
    unit = "sequence"

    def __init__(self, task, section: str):
        self.task, self.section = task, section

    @property
    def cfg(self):
        return self.task.settings[self.section]

    @property
    def prepared(self) -> dict:
        return self.task.prepared

    def read(self, split: str, flag: str | None = None) -> Examples:
        """The examples of "train", "valid" (held out of --data, or --valid), "data" (all of --data) or a file."""
        cfg = self.cfg
        if split in ("train", "valid", "data") and not (split == "valid" and cfg.valid):
            rows = self.read_file(cfg.data, flag)
            keep = range(len(rows)) if split == "data" else self.split(len(rows))[0 if split == "train" else 1]
            return Examples(str(cfg.data), self.unit, *self.keyed(rows, keep), getattr(rows, "features", None))
        source = cfg.valid if split == "valid" else split
        rows = self.read_file(source, flag)
        return Examples(str(source), self.unit, *self.keyed(rows, range(len(rows))), getattr(rows, "features", None))

    def where(self, source: str, key) -> str:
        """How an error names one item: "data.csv: sequence s7", "train.tsv: example 3"."""
        return f"{source}: {self.unit} {key}"

    def batches(self, train, seqs, make) -> L.BucketBatches:
        """Bucketed training batches: make(index array) builds the batch of those sequences."""
        self.check_digest()
        return L.batches([len(s) for s in seqs], train.batch_size, train.seed, make)

    def eval_batches(self, seqs, dtype, batch_size: int = 128):
        """(index array, x (T, N[, D]), mask (T, N)) covering every sequence once, by length."""
        for index in L.eval_order([len(s) for s in seqs], batch_size):
            yield (index, *self.pad([seqs[i] for i in index], dtype))

    def check_digest(self) -> None:
        L.check_digest(self.prepared, self.data_files())     # a resumed run reads the data it started with

    def from_lines(self) -> None:
        """Predict from lines of text: token runs only."""


class TokenInputs(InputPart):
    """Tokens of the task's own text format -> ids through the run's vocabulary (the model embeds them).

    read_file(path, flag) -> [(tokens, label)]: the task's reader (TSV, class files, CoNLL);
    split(n) -> (train indices, valid indices); unit: what an item is called in an error.
    """

    kind = "tokens"

    def __init__(self, task, section: str, read_file: Callable, split: Callable, unit: str = "example"):
        super().__init__(task, section)
        self.read_file, self.split, self.unit = read_file, split, unit

    @staticmethod
    def keyed(rows, keep):
        return [int(i) + 1 for i in keep], [rows[i][0] for i in keep], [rows[i][1] for i in keep]

    def prepare(self, train: Examples) -> dict:
        warn_if_numeric(self.cfg.data, self.task.name)
        c, n, tokenizer = self.cfg, self.task.settings["network"], getattr(self.cfg, "tokenizer", None)
        if self.task.init_from():
            vocab, warm = pretrained.prepare_vocab(self.task.pretrained, train.items, c.level, tokenizer, n.cell,
                                                   n.hidden_size, n.num_layers, n.embedding_size, n.bidirectional,
                                                   c.min_count)
        else:
            vocab, warm = L.build_vocab(train.items, c.min_count, tokenizer or "punct"), {}
        return {"vocab": vocab.to_json(), "max_length": max(map(len, train.items)),
                "data_sha256": L.file_digest(self.data_files()), **warm}

    def data_files(self) -> list:
        return L.data_files(self.cfg.data)

    def stoi(self) -> dict:
        return {t: i for i, t in enumerate(self.prepared["vocab"]["tokens"])}

    def encode(self, items) -> list[np.ndarray]:
        stoi = self.stoi()
        return [L.encode(stoi, tokens or [""]) for tokens in items]

    def pad(self, seqs, dtype=None):
        return L.pad(seqs)

    def model_input(self, hidden: int):
        return len(self.prepared["vocab"]["tokens"]), None

    def read_for_predict(self, path, limit: int | None = None):
        return None                                  # the CLI reads the file's lines and calls task.predict


class VectorInputs(InputPart):
    """Real vectors (VectorConfig: columns, --missing, --input-layer, --no-standardize) -> standardised x."""

    kind = "vectors"

    def __init__(self, task, section: str, per_step: bool = False):
        super().__init__(task, section)
        self.per_step = per_step

    @property
    def v(self):
        return self.task.settings["vectors"]

    def read_file(self, path, flag=None, labelled: bool = True) -> V.VectorSet:
        if path is None:
            raise ValueError(f"--task {self.task.name} needs --data")
        v = self.v
        data = read_vectors(path, V.Columns(v.id_col, v.time_col, v.label_col, v.feature_cols), self.per_step,
                            v.missing, labelled)
        if self.prepared is not None and "features" in self.prepared:
            V.check_widths(data, self.prepared["features"])
        return data

    def split(self, n: int):
        if self.cfg.valid is not None:
            return np.arange(n), None
        return L.split_indices(n, self.cfg.valid_fraction)

    @staticmethod
    def keyed(data: V.VectorSet, keep):
        return [data.ids[i] for i in keep], [data.xs[i] for i in keep], [data.labels[i] for i in keep]

    def prepare(self, train: Examples) -> dict:
        if self.task.init_from():
            raise ValueError(f"--init-from {self.task.init_from()}: a language model's weights start a model of "
                             "tokens, and this run reads vectors (there is no embedding to copy)")
        return {"input": "vectors", "features": train.items[0].shape[1], "feature_names": train.features,
                "scaler": None if self.v.no_standardize else V.fit_scaler(train.items),
                "max_length": max(len(x) for x in train.items), "data_sha256": L.file_digest(self.data_files())}

    def data_files(self) -> list[str]:
        return [p for p in (self.cfg.data, self.cfg.valid) if p]

    def encode(self, items, dtype=None) -> list[np.ndarray]:
        """The standardised sequences in the run's precision (--dtype; float32 by default)."""
        dtype = dtype or self.task.settings["train"].dtype or np.float32
        return V.apply_scaler(items, self.prepared["scaler"], dtype)

    def pad(self, seqs, dtype=None):
        return V.pad_vectors(seqs, dtype)

    def model_input(self, hidden: int):
        v = self.v
        return None, VectorInput(self.prepared["features"], v.input_layer, v.input_width or hidden,
                                 v.input_activation)

    def check_length(self, x, where: str, limit: int | None = None) -> None:
        """At most ``limit`` steps, else --max-source-len where the task has it (seq2seq), else 10 x the
        longest training sequence."""
        limit = limit or getattr(self.cfg, "max_source_len", None)
        if limit is None:
            L.check_length(where, len(x), self.prepared["max_length"])
        elif len(x) > limit:
            raise ValueError(f"{where} has {len(x)} steps, more than --max-source-len {limit}")

    def encode_one(self, x, where: str, limit: int | None = None, check: bool = True) -> np.ndarray:
        """One raw sequence (T, D) -> standardised, its length checked (seq2seq's sources)."""
        if check:
            self.check_length(x, where, limit)
        return self.encode([x])[0]

    def read_for_predict(self, path, limit: int | None = None):
        """(sequence ids, encoded sequences) of an unlabelled file; sequences far beyond training refused."""
        data = self.read_file(path, labelled=False)
        for sid, x in zip(data.ids, data.xs):
            self.check_length(x, self.where(data.source, sid), limit)
        return data.ids, self.encode(data.xs)

    def from_lines(self) -> None:
        raise ValueError("a vector run predicts from a file: unroll predict RUN FILE (.csv, .tsv, .ts, .npz)")
