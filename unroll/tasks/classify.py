"""``unroll train --task classify``: many-to-one sequence classification (SequenceClassifier).

Data (``--data``): a TSV file of ``label<TAB>text`` lines; or one file per class, one example a line,
given as a comma-separated list (``--data rt-polarity.pos,rt-polarity.neg``, the class is the file's
suffix) or as a folder holding only such files. ``--encoding latin-1`` for sentence polarity. Tokens are
words (``--level word``, ``--tokenizer punct|space``) or characters. ``--valid`` names a separate labelled
file for validation; otherwise a fixed random ``--valid-fraction`` of the examples is held out.

Metrics: loss (mean NLL), accuracy, macro F1 and each class's precision / recall / F1; ``unroll eval``
also prints the confusion matrix. Predict: one text a line -> ``label<TAB>p(label)<TAB>label:p ...``.

``--members K`` (K > 1) trains a deep ensemble of K classifiers as one model (unroll/models/ensemble.py):
the mean of their losses trains them, the mean of their probabilities is every metric's and prediction's
p(class); parameters ``member{k}.*``. K = 3 is the default (docs/tune.md, "Ensembles at equal time"); K = 1
(``--members 1``, and every run written before the flag) is the one classifier, its names and numbers unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from unroll.command import Command
from unroll.config import option
from unroll.data import speakers
from unroll.data import vectors as V
from unroll.data.columns import read_class_files, read_tsv
from unroll.models import ensemble
from unroll.models.classifier import DEFAULTS, NETWORK, READOUTS, ClassifyBatch, SequenceClassifier
from unroll.nn import adversarial as adv
from unroll.tasks import labelled as L
from unroll.tasks import pretrained
from unroll.tasks import metrics as M
from unroll.tasks.base import Task
from unroll.tasks.inputs import choose
from unroll.tasks.vectors import VectorConfig


@dataclass(frozen=True)
class ClassifyConfig:
    data: str | None = option(None, help="TSV of label<TAB>text, or comma-separated one-file-per-class files, "
                                         "or a folder of them (required)")
    valid: str | None = option(None, help="labelled validation file (default: hold out --valid-fraction)")
    valid_fraction: float = option(0.1, help="share of --data held out for validation")
    encoding: str = option("utf-8", help="text encoding of the data files (sentence polarity: latin-1)")
    level: str = option("word", help="tokens: word | char")
    tokenizer: str = option("punct", help="word level: punct | space (pre-tokenized text)")
    min_count: int = option(2, help="rarer tokens become <unk> (default 2: a word seen once is <unk>, so <unk> is "
                                    "trained; docs/tune.md \"Classification defaults\")")
    readout: str = option(DEFAULTS["readout"], help="last | mean | max over the real steps")
    embedding_dropout: float = option(DEFAULTS["embedding_dropout"], help="dropout on the embedded tokens")
    init_from: str | None = option(None, help="language-model run folder whose embedding and stack start this "
                                              "model (vocabulary extended; an ensemble of K language models "
                                              "starts the K members one to one; unroll/tasks/pretrained.py)",
                                   metavar="RUN")
    adversarial: float = option(0.0, help="adversarial training on the embedded inputs (Miyato et al. 2017): each "
                                          "step also trains on the batch moved ε along each sequence's loss "
                                          "gradient (L2 norm ε); two passes a step; 0: off (unroll/nn/adversarial.py)",
                                metavar="EPS")
    members: int = option(3, help="a deep ensemble of K classifiers trained side by side on the same batches, each "
                                  "with its own initial weights and dropout masks: the loss is the mean of their "
                                  "cross-entropies, the prediction the mean of their probabilities "
                                  "(unroll/models/ensemble.py; default 3: docs/tune.md \"Ensembles at equal time\"); "
                                  "1: one classifier", metavar="K")

    def __post_init__(self):
        for name, value, allowed in (("level", self.level, L.LEVELS), ("readout", self.readout, READOUTS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        L.check_settings(self, "min_count", "members")
        if self.tokenizer != "punct" and self.level == "char":
            raise ValueError("--tokenizer applies to --level word, not to --level char (every character is a token)")
        if not 0.0 <= self.embedding_dropout < 1.0:
            raise ValueError(f"--embedding-dropout must lie in [0, 1), got {self.embedding_dropout}")
        adv.check_epsilon(self.adversarial, "--adversarial")


def read_examples(spec: str, encoding: str, flag: str | None = None) -> list[tuple[str, str]]:
    """[(label, text)] from a TSV file, a comma-separated list of class files, or a folder of them."""
    if spec is None:
        raise ValueError("--task classify needs --data (a TSV file, or one file per class)")
    parts = L.data_files(spec)
    if len(parts) == 1:
        return read_tsv(parts[0], encoding, flag)
    return read_class_files(parts, encoding, flag)


TOKEN_ONLY = ("level", "tokenizer", "min_count", "encoding")     # fields vector input does not read (refused)


class ClassifyTask(Task):
    name, help = "classify", "many-to-one: one label per sequence (sentiment)"
    page = "unroll.tasks.probes.classify"       # its page in unroll serve (tasks/probes/classify.py)
    sections = {"classify": ClassifyConfig, "network": NETWORK, "vectors": VectorConfig}   # NETWORK: the model's
    optional_sections = ("vectors",)            # runs written before vector input have none
    absent_settings = {"classify": {"members": 1}}     # runs written before --members: one classifier
    train_defaults = {"eval_every": 200, "log_every": 20, "batch_size": 50, "lr": 3e-3,
                      "default_schedule": "cosine"}     # docs/tune.md "Classification defaults" (#30)
    splits = ("valid",)
    per_sequence = ("labels",)

    def __init__(self, settings, prepared=None):
        super().__init__({"vectors": VectorConfig(), **settings}, prepared)
        self.inputs = choose(self, "classify", TOKEN_ONLY, {"read_file": self._read_file, "split": self._split})

    @property
    def cfg(self) -> ClassifyConfig:
        return self.settings["classify"]

    def _read_file(self, spec, flag=None) -> list[tuple[list[str], str]]:
        return [(self.tokens(text), label) for label, text in read_examples(spec, self.cfg.encoding, flag)]

    def _split(self, n: int):
        return L.split_indices(n, self.cfg.valid_fraction) if self.cfg.valid is None else (np.arange(n), None)

    def prepare(self) -> dict:
        whole, train = self.inputs.read("data", "--data"), self.inputs.read("train")
        if self.inputs.kind == "vectors":
            V.check_classes(train.labels, train.source)      # numbers are measurements, not classes
        labels = sorted(set(whole.labels))                   # every class of --data, held-out ones too
        if len(labels) < 2:
            raise ValueError(f"{whole.source}: the data hold only the class {labels[0]!r}; need at least two")
        self.prepared = {**self.inputs.prepare(train), "labels": labels}
        return self.prepared

    def warm_start(self, model) -> None:
        """--init-from: the language model's embedding and stack start the classifier (each member of an ensemble;
        member k from member k of an ensemble of language models)."""
        if self.cfg.init_from:
            heads, tokens = ensemble.heads(model), self.prepared["vocab"]["tokens"]
            for head, lm in zip(heads, pretrained.one_per_head(self.pretrained, heads)):
                pretrained.copy_into(model.params, lm, tokens, embed_key=head + "embed.W", prefix=head)

    def init_from(self) -> str | None:
        return self.cfg.init_from

    # ------------------------------------------------------------------------------------------------

    def batches(self, train):
        seqs, labels = self._encoded("train")
        make = lambda index: ClassifyBatch(*self.inputs.pad([seqs[i] for i in index]), labels[index])  # noqa: E731
        return self.inputs.batches(train, seqs, make)

    def build_model(self, seed: int, dtype=np.float32):
        """The classifier, or with --members K > 1 the ensemble of K (unroll/models/ensemble.py)."""
        c, n = self.cfg, self.settings["network"]
        vocab_size, layer = self.inputs.model_input(n.hidden_size)
        make = lambda s: SequenceClassifier.from_config(n, vocab_size, len(self.prepared["labels"]),  # noqa: E731
                                                        readout=c.readout, seed=s, dtype=dtype,
                                                        embedding_dropout=c.embedding_dropout, input_layer=layer,
                                                        adversarial=c.adversarial)
        return ensemble.build(make, c.members, seed)

    def proba(self, model, seqs) -> np.ndarray:
        """p(class) (N, C) of encoded sequences, in length-sorted batches."""
        probs = np.zeros((len(seqs), len(self.prepared["labels"])))
        for index, x, mask in self.inputs.eval_batches(seqs, model.dtype):
            probs[index] = model.predict_proba(x, mask)
        return probs

    def metrics(self, model, split: str) -> dict:
        seqs, labels = self._encoded(split)
        probs = self.proba(model, seqs)
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

    def _line(self, p) -> str:
        """label<TAB>p(label)<TAB>label:p ... of one sequence's probabilities."""
        names, best = self.prepared["labels"], int(p.argmax())
        return "\t".join([names[best], f"{p[best]:.4f}", " ".join(f"{n}:{q:.4f}" for n, q in zip(names, p))])

    def predict(self, model, lines, options):
        self.inputs.from_lines()
        for number, line in enumerate(lines, 1):
            tokens = self.tokens(line)
            if not tokens:
                raise ValueError(f"line {number}: empty text")
            L.check_length(f"line {number}", len(tokens), self.prepared["max_length"])
            yield self._line(self.proba(model, self.inputs.encode([tokens]))[0])

    def predict_file(self, model, path, options):
        """id<TAB>the predict line of each sequence of a vector file; None for a token run (the CLI reads lines)."""
        read = self.inputs.read_for_predict(path)
        if read is None:
            return None
        ids, seqs = read
        return (f"{sid}\t{self._line(p)}" for sid, p in zip(ids, self.proba(model, seqs)))

    # ------------------------------------------------------------------------------------------------

    def tokens(self, text: str) -> list[str]:
        """The tokens the run reads from one text (its --level and --tokenizer)."""
        return L.tokens_of(text, self.cfg.level, self.cfg.tokenizer)

    def encode(self, text: str) -> np.ndarray:
        """The token ids (T,) of one text in the run's vocabulary (unknown tokens: <unk>)."""
        return self.inputs.encode([self.tokens(text)])[0]

    def check_data(self) -> None:
        self._encoded("valid")                       # unknown labels: before the folder exists

    def _encoded(self, split: str):
        """(encoded sequences, label ids) of "train", "valid" or a labelled file."""
        ex = self.inputs.read(split)
        index, names = {n: i for i, n in enumerate(self.prepared["labels"])}, self.prepared["labels"]
        for key, label in zip(ex.keys, ex.labels):
            if label not in index:
                raise ValueError(f"{ex.source}: {ex.unit} {key} has the label {label!r}, not one of the run's labels "
                                 f"{', '.join(names)}")
        return self.inputs.encode(ex.items), np.array([index[y] for y in ex.labels], np.int64)


TASK = ClassifyTask


ClassifyTask.commands = (Command("speakers", "speeches of a play labelled by speaker (speaker<TAB>speech), from the "
                                 "bundled tiny Shakespeare by default: data for --task classify",
                                 speakers.arguments, speakers.cmd_data_speakers, kind="data"),)
