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
from unroll.data.columns import read_conll, write_conll
from unroll.data.segment import segmentation_examples
from unroll.data.text import read_text
from unroll.models.tagger import NETWORK, SequenceTagger, TagBatch
from unroll.tasks import labelled as L
from unroll.tasks import pretrained
from unroll.tasks import metrics as M
from unroll.tasks.base import Task


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


class TagTask(Task):
    name, help = "tag", "aligned many-to-many: a tag per token (CoNLL data; word segmentation)"
    page = "unroll.tasks.probes.tag"       # its page in unroll serve (tasks/probes/tag.py)
    sections = {"tag": TagConfig, "network": NETWORK}      # NETWORK: the model's defaults, the CLI's
    train_defaults = {"eval_every": 200, "log_every": 20, "lr": 3e-3}
    predict_options = TagPredictOptions

    @property
    def cfg(self) -> TagConfig:
        return self.settings["tag"]

    def prepare(self) -> dict:
        if self.cfg.data is None:
            raise ValueError("--task tag needs --data (a CoNLL file; `unroll data segment` makes one from text)")
        sequences = read_conll(self.cfg.data, self.cfg.encoding, "--data")
        train_idx, _ = self._split(sequences)
        c, n, token_lists = self.cfg, self.settings["network"], [sequences[i][0] for i in train_idx]
        if c.init_from:
            vocab, warm = pretrained.prepare_vocab(self.pretrained, token_lists, c.level, None, n.cell, n.hidden_size,
                                                   n.num_layers, n.embedding_size, n.bidirectional, c.min_count)
        else:
            vocab, warm = L.build_vocab(token_lists, c.min_count), {}
        tags = sorted({t for i in train_idx for t in sequences[i][1]})
        if len(tags) < 2:
            raise ValueError(f"{self.cfg.data}: the training sequences hold only the tag {tags[0]!r}; need two")
        self.prepared = {"vocab": vocab.to_json(), "tags": tags,
                         "max_length": max(len(sequences[i][0]) for i in train_idx),
                         "data_sha256": L.file_digest([self.cfg.data]), **warm}
        return self.prepared

    def warm_start(self, model) -> None:
        if self.cfg.init_from:
            pretrained.copy_into(model.params, pretrained.read(self.pretrained), self.prepared["vocab"]["tokens"])

    def init_from(self) -> str | None:
        return self.cfg.init_from

    def count(self, batch) -> int:
        return int(batch.mask.sum())                 # real tokens: the loss is their mean

    def batches(self, train):
        L.check_digest(self.prepared, [self.cfg.data])
        seqs, tags = self._data("train")
        make = lambda index: TagBatch(*L.pad([seqs[i] for i in index]), L.pad([tags[i] for i in index])[0])  # noqa: E731
        return L.batches([len(s) for s in seqs], train.batch_size, train.seed, make)

    def build_model(self, seed: int, dtype=np.float32):
        return SequenceTagger.from_config(self.settings["network"], len(self.prepared["vocab"]["tokens"]),
                                          len(self.prepared["tags"]), seed=seed, dtype=dtype)

    def metrics(self, model, split: str) -> dict:
        seqs, tags = self._data(split)
        names, pred, nll, count = self.prepared["tags"], [None] * len(seqs), 0.0, 0
        for index, ids, mask in L.in_eval_batches(seqs):
            probs = model.predict_proba(ids, mask)
            for col, i in enumerate(index):
                n = len(seqs[i])
                nll -= np.log(np.maximum(probs[np.arange(n), col, tags[i]], np.finfo(float).tiny)).sum()
                count += n
                pred[i] = probs[:n, col].argmax(axis=1)
        pred_tags = [[names[t] for t in p] for p in pred]
        gold_tags = [[names[t] for t in g] for g in tags]
        out = {"loss": float(nll / count), "token_accuracy": M.token_accuracy(pred_tags, gold_tags)}
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
        names, stoi = self.prepared["tags"], self._stoi()
        words = options is not None and options.format == "words"
        if words and set(names) != {"B", "I"}:
            raise ValueError(f"--format words needs the tags B and I; this run's tags are {', '.join(names)}")
        for number, line in enumerate(lines, 1):
            tokens = self.tokens(line)
            if not tokens:
                yield ""
                continue
            L.check_length(f"line {number}", len(tokens), self.prepared["max_length"])
            tags = [names[t] for t in model.predict_proba(L.encode(stoi, tokens)[:, None])[:, 0].argmax(axis=1)]
            if words:
                sep = "" if self.cfg.level == "char" else " "
                yield "".join((" " if t == "B" and k else sep if k else "") + tok
                              for k, (tok, t) in enumerate(zip(tokens, tags)))
            else:
                yield " ".join(tags)

    # ------------------------------------------------------------------------------------------------

    def tokens(self, text: str) -> list[str]:
        """How predict splits one input line: characters (spaces dropped) at --level char, else at white space."""
        return [c for c in text if not c.isspace()] if self.cfg.level == "char" else text.split()

    def encode(self, text: str) -> np.ndarray:
        """The token ids (T,) of one input line in the run's vocabulary (unknown tokens: <unk>)."""
        return L.encode(self._stoi(), self.tokens(text))

    def _stoi(self) -> dict:
        return {t: i for i, t in enumerate(self.prepared["vocab"]["tokens"])}

    def _split(self, sequences):
        if self.cfg.valid is not None:
            return np.arange(len(sequences)), None
        return L.split_indices(len(sequences), self.cfg.valid_fraction, 0, f"--data {self.cfg.data}", "CoNLL sequences")

    def check_data(self) -> None:
        self._data("valid")                          # unknown labels, tags or conditions: before the folder exists

    def _data(self, split: str):
        """(token id sequences, tag id sequences) of "train", "valid" or a CoNLL file."""
        if split in ("train", "valid") and not (split == "valid" and self.cfg.valid):
            sequences = read_conll(self.cfg.data, self.cfg.encoding)
            train_idx, valid_idx = self._split(sequences)
            source, chosen = self.cfg.data, [sequences[i] for i in (train_idx if split == "train" else valid_idx)]
            numbers = [int(i) + 1 for i in (train_idx if split == "train" else valid_idx)]
        else:
            source = self.cfg.valid if split == "valid" else split
            chosen = read_conll(source, self.cfg.encoding)
            numbers = range(1, len(chosen) + 1)
        index, stoi = {t: i for i, t in enumerate(self.prepared["tags"])}, self._stoi()
        seqs, tags = [], []
        for k, (tokens, tg) in zip(numbers, chosen):
            unknown = sorted(set(tg) - set(index))
            if unknown:
                raise ValueError(f"{source}: sequence {k} has the tag(s) {L.some(unknown)}, not in the run's "
                                 f"tag set {L.some(self.prepared['tags'])}")
            seqs.append(L.encode(stoi, tokens))
            tags.append(np.array([index[t] for t in tg], np.int64))
        return seqs, tags


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

# Sequences of real vectors (.csv, .ts, .npz data; tasks/vectors.py) through the same task.
from unroll.tasks.vector_parts import TagVectors  # noqa: E402
from unroll.tasks.vectors import with_vectors  # noqa: E402

TASK = with_vectors(TagTask, TagVectors)
