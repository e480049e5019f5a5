"""``unroll train --task classify``: many-to-one sequence classification (SequenceClassifier).

Data (``--data``): a TSV file of ``label<TAB>text`` lines; or one file per class, one example a line,
given as a comma-separated list (``--data rt-polarity.pos,rt-polarity.neg``, the class is the file's
suffix) or as a folder holding only such files. ``--encoding latin-1`` for sentence polarity. Tokens are
words (``--level word``, ``--tokenizer punct|space``) or characters. ``--valid`` names a separate labelled
file for validation; otherwise a fixed random ``--valid-fraction`` of the examples is held out.

Metrics: loss (mean NLL), accuracy, macro F1 and each class's precision / recall / F1; ``unroll eval``
also prints the confusion matrix. Predict: one text a line -> ``label<TAB>p(label)<TAB>label:p ...``.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from unroll.config import option
from unroll.data.columns import read_class_files, read_tsv
from unroll.models.classifier import DEFAULTS, NETWORK, READOUTS, ClassifyBatch, SequenceClassifier
from unroll.nn import ops
from unroll.tasks import labelled as L
from unroll.tasks import pretrained
from unroll.tasks import metrics as M
from unroll.tasks.base import Task


@dataclass(frozen=True)
class ClassifyConfig:
    data: str | None = option(None, help="TSV of label<TAB>text, or comma-separated one-file-per-class files, "
                                         "or a folder of them (required)")
    valid: str | None = option(None, help="labelled validation file (default: hold out --valid-fraction)")
    valid_fraction: float = option(0.1, help="share of --data held out for validation")
    encoding: str = option("utf-8", help="text encoding of the data files (sentence polarity: latin-1)")
    level: str = option("word", help="tokens: word | char")
    tokenizer: str = option("punct", help="word level: punct | space (pre-tokenized text)")
    min_count: int = option(1, help="rarer tokens become <unk>")
    readout: str = option(DEFAULTS["readout"], help="last | mean | max over the real steps")
    embedding_dropout: float = option(DEFAULTS["embedding_dropout"], help="dropout on the embedded tokens")
    init_from: str | None = option(None, help="language-model run folder whose embedding and stack start this "
                                              "model (vocabulary extended; unroll/tasks/pretrained.py)", metavar="RUN")

    def __post_init__(self):
        for name, value, allowed in (("level", self.level, L.LEVELS), ("readout", self.readout, READOUTS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        L.check_settings(self, "min_count")
        if self.tokenizer != "punct" and self.level == "char":
            raise ValueError("--tokenizer applies to --level word, not to --level char (every character is a token)")
        if not 0.0 <= self.embedding_dropout < 1.0:
            raise ValueError(f"--embedding-dropout must lie in [0, 1), got {self.embedding_dropout}")


def read_examples(spec: str, encoding: str, flag: str | None = None) -> list[tuple[str, str]]:
    """[(label, text)] from a TSV file, a comma-separated list of class files, or a folder of them."""
    if spec is None:
        raise ValueError("--task classify needs --data (a TSV file, or one file per class)")
    parts = L.data_files(spec)
    if len(parts) == 1:
        return read_tsv(parts[0], encoding, flag)
    return read_class_files(parts, encoding, flag)


class ClassifyTask(Task):
    name, help = "classify", "many-to-one: one label per sequence (sentiment)"
    page = "unroll.tasks.probes.classify"       # its page in unroll serve (tasks/probes/classify.py)
    sections = {"classify": ClassifyConfig, "network": NETWORK}    # NETWORK: the model's defaults, the CLI's
    train_defaults = {"eval_every": 200, "log_every": 20, "batch_size": 50, "lr": 3e-3}
    splits = ("valid",)
    per_sequence = ("labels",)

    @property
    def cfg(self) -> ClassifyConfig:
        return self.settings["classify"]

    def prepare(self) -> dict:
        examples = read_examples(self.cfg.data, self.cfg.encoding, "--data")
        labels = sorted({label for label, _ in examples})
        if len(labels) < 2:
            raise ValueError(f"{self.cfg.data}: the data hold only the class {labels[0]!r}; need at least two")
        train_idx, _ = self._split(examples)
        tokens = [self.tokens(examples[i][1]) for i in train_idx]
        c, n = self.cfg, self.settings["network"]
        if c.init_from:
            vocab, warm = pretrained.prepare_vocab(self.pretrained, tokens, c.level, c.tokenizer, n.cell, n.hidden_size,
                                                   n.num_layers, n.embedding_size, n.bidirectional, c.min_count)
        else:
            vocab, warm = L.build_vocab(tokens, c.min_count, c.tokenizer), {}
        self.prepared = {"vocab": vocab.to_json(), "labels": labels, "max_length": max(map(len, tokens)),
                         "data_sha256": L.file_digest(L.data_files(self.cfg.data)), **warm}
        return self.prepared

    def warm_start(self, model) -> None:
        if self.cfg.init_from:
            pretrained.copy_into(model.params, pretrained.read(self.pretrained), self.prepared["vocab"]["tokens"])

    def init_from(self) -> str | None:
        return self.cfg.init_from

    # ------------------------------------------------------------------------------------------------

    def batches(self, train):
        L.check_digest(self.prepared, L.data_files(self.cfg.data))
        seqs, labels = self._data("train")
        make = lambda index: ClassifyBatch(*L.pad([seqs[i] for i in index]), labels[index])  # noqa: E731
        return L.batches([len(s) for s in seqs], train.batch_size, train.seed, make)

    def build_model(self, seed: int, dtype=np.float32):
        c = self.cfg
        return SequenceClassifier.from_config(self.settings["network"], len(self.prepared["vocab"]["tokens"]),
                                              len(self.prepared["labels"]), readout=c.readout, seed=seed, dtype=dtype,
                                              embedding_dropout=c.embedding_dropout)

    def metrics(self, model, split: str) -> dict:
        seqs, labels = self._data(split)
        probs = np.zeros((len(seqs), len(self.prepared["labels"])))
        for index, ids, mask in L.in_eval_batches(seqs):
            probs[index] = model.predict_proba(ids, mask)
        nll = -np.log(np.maximum(probs[np.arange(len(seqs)), labels], np.finfo(float).tiny))
        pred, names = probs.argmax(axis=1), self.prepared["labels"]
        out = {"loss": float(nll.mean()), "accuracy": M.accuracy(pred, labels), "macro_f1": M.macro_f1(pred, labels, names)}
        for name, s in M.per_class(pred, labels, names).items():
            out |= {f"precision_{name}": s["precision"], f"recall_{name}": s["recall"], f"f1_{name}": s["f1"]}
        out["confusion"] = M.confusion_matrix(pred, labels, len(names)).tolist()
        return out

    def monitor(self) -> tuple[str, str]:
        return "accuracy", "max"

    def describe(self, metrics: dict) -> str:
        names = self.prepared["labels"]
        head = f"loss {metrics['loss']:.4f}, accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}"
        rows = [f"  {n}: P {metrics[f'precision_{n}']:.4f} R {metrics[f'recall_{n}']:.4f} F1 {metrics[f'f1_{n}']:.4f}"
                for n in names]
        cm = metrics.get("confusion")
        if cm is not None:
            rows.append("  confusion (rows true, columns predicted: " + " ".join(names) + ")")
            rows += ["  " + n + " " + " ".join(str(v) for v in row) for n, row in zip(names, cm)]
        return "\n".join([head, *rows])

    def predict(self, model, lines, options):
        names, stoi = self.prepared["labels"], self._stoi()
        for number, line in enumerate(lines, 1):
            tokens = self.tokens(line)
            if not tokens:
                raise ValueError(f"line {number}: empty text")
            L.check_length(f"line {number}", len(tokens), self.prepared["max_length"])
            ids = L.encode(stoi, tokens)[:, None]
            p = model.predict_proba(ids)[0]
            best = int(p.argmax())
            yield "\t".join([names[best], f"{p[best]:.4f}", " ".join(f"{n}:{q:.4f}" for n, q in zip(names, p))])

    # ------------------------------------------------------------------------------------------------

    def tokens(self, text: str) -> list[str]:
        """The tokens the run reads from one text (its --level and --tokenizer)."""
        return L.tokens_of(text, self.cfg.level, self.cfg.tokenizer)

    def encode(self, text: str) -> np.ndarray:
        """The token ids (T,) of one text in the run's vocabulary (unknown tokens: <unk>)."""
        return L.encode(self._stoi(), self.tokens(text))

    def _stoi(self) -> dict:
        return {t: i for i, t in enumerate(self.prepared["vocab"]["tokens"])}

    def _split(self, examples):
        return L.split_indices(len(examples), self.cfg.valid_fraction) if self.cfg.valid is None \
            else (np.arange(len(examples)), None)

    def check_data(self) -> None:
        self._data("valid")                          # unknown labels, tags or conditions: before the folder exists

    def _data(self, split: str):
        """(token id sequences, label ids) of "train", "valid" or a labelled file."""
        if split in ("train", "valid") and not (split == "valid" and self.cfg.valid):
            examples = read_examples(self.cfg.data, self.cfg.encoding)
            train_idx, valid_idx = self._split(examples)
            chosen = [examples[i] for i in (train_idx if split == "train" else valid_idx)]
            numbers = [int(i) + 1 for i in (train_idx if split == "train" else valid_idx)]
            source = self.cfg.data
        else:
            source = self.cfg.valid if split == "valid" else split
            chosen = read_examples(source, self.cfg.encoding)
            numbers = range(1, len(chosen) + 1)
        index, stoi = {n: i for i, n in enumerate(self.prepared["labels"])}, self._stoi()
        seqs, labels = [], []
        for k, (label, text) in zip(numbers, chosen):
            if label not in index:
                raise ValueError(f"{source}: example {k} has the label {label!r}, not one of the run's labels "
                                 f"{', '.join(self.prepared['labels'])}")
            tokens = self.tokens(text) or [""]
            seqs.append(L.encode(stoi, tokens))
            labels.append(index[label])
        return seqs, np.array(labels, np.int64)



# Sequences of real vectors (.csv, .tsv, .ts, .npz data; tasks/vectors.py) through the same task.
from unroll.tasks.vector_parts import ClassifyVectors  # noqa: E402
from unroll.tasks.vectors import with_vectors  # noqa: E402

TASK = with_vectors(ClassifyTask, ClassifyVectors)
