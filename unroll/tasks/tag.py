"""``unroll train --task tag``: aligned many-to-many, one tag per token (SequenceTagger).

Data (``--data``): CoNLL, ``token<TAB>tag`` a line, a blank line between sequences (more columns: the
first is the token, the last the tag). ``--valid`` names a validation file in the same format; otherwise a
fixed random ``--valid-fraction`` of the sequences is held out. Word segmentation data come from
``unroll data segment FILE`` (each line's characters without spaces, tagged B where a word starts).

Metrics: loss (mean NLL per token), token accuracy; BIO span F1 when the tags look like ``B-X``/``I-X``/``O``;
boundary and word F1 when the tags are exactly B and I (segmentation). Predict: one sequence a line, its
tokens separated by spaces (``--level word``) or every character a token (``--level char``) ->
the tags separated by spaces, or (``--format words``, B/I tags) the text with a space before each B.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unroll.command import Command
from unroll.config import option
from unroll.data import vectors as V
from unroll.data.columns import read_conll, write_conll
from unroll.data.segment import segmentation_examples
from unroll.data.text import read_text
from unroll.models.tagger import NETWORK, SequenceTagger, TagBatch
from unroll.tasks import labelled as L
from unroll.tasks import pretrained
from unroll.tasks import metrics as M
from unroll.tasks.base import Task
from unroll.tasks.inputs import choose
from unroll.tasks.vectors import VectorConfig


@dataclass(frozen=True)
class TagConfig:
    data: str | None = option(None, help="CoNLL file: token<TAB>tag lines, blank lines between sequences (required)")
    valid: str | None = option(None, help="CoNLL validation file (default: hold out --valid-fraction)")
    valid_fraction: float = option(0.1, help="share of --data held out for validation")
    encoding: str = option("utf-8", help="text encoding of the data files")
    level: str = option("word", help="how predict splits an input line: word (at spaces) | char")
    min_count: int = option(1, help="rarer tokens become <unk>")
    init_from: str | None = option(None, help="language-model run folder whose embedding and stack start this "
                                              "model (vocabulary extended; unroll/tasks/pretrained.py)", metavar="RUN")

    def __post_init__(self):
        if self.level not in L.LEVELS:
            raise ValueError(f"level must be one of {', '.join(L.LEVELS)}, got {self.level!r}")
        L.check_settings(self, "min_count")


@dataclass(frozen=True)
class TagPredictOptions:
    format: str = option("tags", help="tags (space-separated) | words (B/I tags: the text re-spaced)")

    def __post_init__(self):
        if self.format not in ("tags", "words"):
            raise ValueError(f"--format must be tags or words, got {self.format!r}")


TOKEN_ONLY = ("level", "min_count", "encoding")      # fields vector input does not read (refused)


class TagTask(Task):
    name, help = "tag", "aligned many-to-many: a tag per token (CoNLL data; word segmentation)"
    page = "unroll.tasks.probes.tag"       # its page in unroll serve (tasks/probes/tag.py)
    sections = {"tag": TagConfig, "network": NETWORK, "vectors": VectorConfig}   # NETWORK: the model's defaults
    optional_sections = ("vectors",)       # runs written before vector input have none
    train_defaults = {"eval_every": 200, "log_every": 20, "lr": 3e-3,
                      "default_schedule": "cosine"}     # docs/tune.md "Tag defaults" (#30)
    predict_options = TagPredictOptions

    def __init__(self, settings, prepared=None):
        super().__init__({"vectors": VectorConfig(), **settings}, prepared)
        self.inputs = choose(self, "tag", TOKEN_ONLY, {"read_file": self._read_file, "split": self._split,
                                                       "unit": "sequence"}, per_step=True)

    @property
    def cfg(self) -> TagConfig:
        return self.settings["tag"]

    def _read_file(self, path, flag=None):
        if path is None:
            raise ValueError("--task tag needs --data (a CoNLL file; `unroll data segment` makes one from text)")
        return read_conll(path, self.cfg.encoding, flag)

    def _split(self, n: int):
        if self.cfg.valid is not None:
            return np.arange(n), None
        return L.split_indices(n, self.cfg.valid_fraction, 0, f"--data {self.cfg.data}", "CoNLL sequences")

    def prepare(self) -> dict:
        train = self.inputs.read("train", "--data")
        if self.inputs.kind == "vectors":
            V.check_classes(train.labels, train.source, "tag")    # numbers are measurements, not tags
        tags = sorted({t for row in train.labels for t in row})
        if len(tags) < 2:
            raise ValueError(f"{train.source}: the training sequences hold only the tag {tags[0]!r}; need two")
        self.prepared = {**self.inputs.prepare(train), "tags": tags}
        return self.prepared

    def warm_start(self, model) -> None:
        if self.cfg.init_from:
            lm, = pretrained.one_per_head(self.pretrained, [""], advice="a tagger is one model")
            pretrained.copy_into(model.params, lm, self.prepared["vocab"]["tokens"])

    def init_from(self) -> str | None:
        return self.cfg.init_from

    def count(self, batch) -> int:
        return int(batch.mask.sum())                 # real tokens: the loss is their mean

    def batches(self, train):
        seqs, tags = self._encoded("train")
        make = lambda index: TagBatch(*self.inputs.pad([seqs[i] for i in index]),  # noqa: E731
                                      L.pad([tags[i] for i in index])[0])
        return self.inputs.batches(train, seqs, make)

    def build_model(self, seed: int, dtype=np.float32):
        n = self.settings["network"]
        vocab_size, layer = self.inputs.model_input(n.hidden_size)
        return SequenceTagger.from_config(n, vocab_size, len(self.prepared["tags"]), seed=seed, dtype=dtype,
                                          input_layer=layer)

    def proba(self, model, seqs) -> list[np.ndarray]:
        """p(tag) (T_n, K) of each encoded sequence, in length-sorted batches."""
        out = [None] * len(seqs)
        for index, x, mask in self.inputs.eval_batches(seqs, model.dtype):
            probs = model.predict_proba(x, mask)
            for col, i in enumerate(index):
                out[i] = probs[:len(seqs[i]), col]
        return out

    def metrics(self, model, split: str) -> dict:
        seqs, tags = self._encoded(split)
        names, probs = self.prepared["tags"], self.proba(model, seqs)
        nll = sum(-np.log(np.maximum(p[np.arange(len(t)), t], np.finfo(float).tiny)).sum() for p, t in zip(probs, tags))
        pred_tags = [[names[k] for k in p.argmax(axis=1)] for p in probs]
        gold_tags = [[names[k] for k in t] for t in tags]
        out = {"loss": float(nll / sum(map(len, tags))), "token_accuracy": M.token_accuracy(pred_tags, gold_tags)}
        if set(names) == {"B", "I"}:
            out["boundary_f1"] = M.boundary_f1(pred_tags, gold_tags)["f1"]
            out["word_f1"] = M.word_f1(pred_tags, gold_tags)["f1"]
        elif any(n[:2] in ("B-", "I-") for n in names):
            out |= {f"span_{k}": v for k, v in M.span_f1(pred_tags, gold_tags).items()}
        return out

    def monitor(self) -> tuple[str, str]:
        """Word segmentation: boundary F1; BIO tags: span F1; other tags: token accuracy."""
        names = self.prepared["tags"]
        if set(names) == {"B", "I"}:
            return "boundary_f1", "max"
        if any(n[:2] in ("B-", "I-") for n in names):
            return "span_f1", "max"
        return "token_accuracy", "max"

    def predict(self, model, lines, options):
        self.inputs.from_lines()
        names = self.prepared["tags"]
        words = options is not None and options.format == "words"
        if words and set(names) != {"B", "I"}:
            raise ValueError(f"--format words needs the tags B and I; this run's tags are {', '.join(names)}")
        for number, line in enumerate(lines, 1):
            tokens = self.tokens(line)
            if not tokens:
                yield ""
                continue
            L.check_length(f"line {number}", len(tokens), self.prepared["max_length"])
            tags = [names[t] for t in self.proba(model, self.inputs.encode([tokens]))[0].argmax(axis=1)]
            if words:
                sep = "" if self.cfg.level == "char" else " "
                yield "".join((" " if t == "B" and k else sep if k else "") + tok
                              for k, (tok, t) in enumerate(zip(tokens, tags)))
            else:
                yield " ".join(tags)

    def predict_file(self, model, path, options):
        """id<TAB>a tag per row of each sequence of a vector file; None for a token run (the CLI reads lines)."""
        read = self.inputs.read_for_predict(path)
        if read is None:
            return None
        ids, seqs = read
        names = self.prepared["tags"]
        return (f"{sid}\t" + " ".join(names[k] for k in p.argmax(axis=1))
                for sid, p in zip(ids, self.proba(model, seqs)))

    # ------------------------------------------------------------------------------------------------

    def tokens(self, text: str) -> list[str]:
        """How predict splits one input line: characters (spaces dropped) at --level char, else at white space."""
        return [c for c in text if not c.isspace()] if self.cfg.level == "char" else text.split()

    def encode(self, text: str) -> np.ndarray:
        """The token ids (T,) of one input line in the run's vocabulary (unknown tokens: <unk>)."""
        return self.inputs.encode([self.tokens(text)])[0]

    def check_data(self) -> None:
        self._encoded("valid")                       # unknown tags: before the folder exists

    def _encoded(self, split: str):
        """(encoded sequences, tag id sequences) of "train", "valid" or a file."""
        ex, names = self.inputs.read(split), self.prepared["tags"]
        index = {t: i for i, t in enumerate(names)}
        for key, row in zip(ex.keys, ex.labels):
            unknown = sorted(set(row) - set(index))
            if unknown:
                raise ValueError(f"{ex.source}: sequence {key} has the tag(s) {L.some(unknown)}, not in the run's "
                                 f"tag set {L.some(names)}")
        return self.inputs.encode(ex.items), [np.array([index[t] for t in row], np.int64) for row in ex.labels]


def _segment_arguments(s) -> None:
    s.add_argument("file", type=Path, help="a UTF-8 text file")
    s.add_argument("--out", type=Path, help="CoNLL output (default: standard output)")
    s.add_argument("--valid-fraction", type=float, default=0.0,
                   help="also write the last share of the text's characters to OUT.valid (needs --out)")


def cmd_data_segment(args) -> int:
    from unroll.data.text import split
    text = read_text(args.file)
    if args.valid_fraction:
        if args.out is None:
            raise ValueError("--valid-fraction needs --out (the validation part goes to OUT.valid)")
        text, valid = split(text, args.valid_fraction)
        write_conll(str(args.out) + ".valid", segmentation_examples(valid))
    examples = segmentation_examples(text)
    if args.out is None:
        for chars, tags in examples:
            sys.stdout.write("".join(f"{c}\t{t}\n" for c, t in zip(chars, tags)) + "\n")
    else:
        write_conll(args.out, examples)
    print(f"{len(examples)} sequences, {sum(len(c) for c, _ in examples)} characters", file=sys.stderr)
    return 0


TagTask.commands = (Command("segment", "word segmentation data in CoNLL form: each line's characters without "
                            "spaces, tagged B where a word starts, else I", _segment_arguments, cmd_data_segment,
                            kind="data"),)

TASK = TagTask
