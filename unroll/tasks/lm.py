"""The language-model task: predict the next token of a text (characters or words), trained by truncated
BPTT(k1, k2) with the hidden state carried from batch to batch.

Data: one UTF-8 text (``--data``, default the bundled tiny Shakespeare); the last ``--valid-fraction`` of
its tokens is the validation split, or ``--valid FILE``. The vocabulary is built when the run starts and
stored in config.json (with the corpus's SHA-256, so that a resumed run refuses a changed corpus).
Metrics: nats per token over every validation token exactly once, as bits/char at character level and
perplexity at word level. Predict: each input line is completed to its end by the model. ``unroll sample``
(registered here) streams text from a priming string.
"""

from __future__ import annotations

import hashlib
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from unroll.command import Command
from unroll.config import BPTTConfig, CorpusConfig, ModelConfig, option
from unroll.data import text as text_data
from unroll.data.batching import StreamBatcher, eval_batches
from unroll.data.vocab import VOCABS, drop_unknown, where_first
from unroll.models import lm_ensemble
from unroll.models.language_model import LanguageModel
from unroll.tasks.base import Task
from unroll.train import distributed
from unroll.train.bptt import TruncatedBPTT


@dataclass(frozen=True)
class CompleteOptions:
    """`unroll predict` on a language model: complete each line."""

    length: int = option(200, help="most tokens added to a line")
    temperature: float = option(1.0, help="sampling temperature")
    top_k: int | None = option(None, help="sample among the k likeliest tokens")
    greedy: bool = option(False, help="always take the likeliest token")
    seed: int | None = option(None, help="sampling seed")

    def __post_init__(self):
        from unroll.tasks.labelled import check_settings
        check_settings(self, "length", "top_k")
        if not self.temperature > 0:
            raise ValueError(f"--temperature must be positive, got {self.temperature}")


@dataclass(frozen=True)
class EnsembleConfig:
    """--members K: a deep ensemble of K language models (unroll/models/lm_ensemble.py)."""

    members: int = option(1, help="a deep ensemble of K language models trained side by side on the same batches, "
                                  "each with its own initial weights, dropout masks and carried state: the loss is the "
                                  "mean of their cross-entropies, the next-token distribution the mean of their "
                                  "probabilities (unroll/models/lm_ensemble.py; docs/tune.md \"Long runs\"); "
                                  "1: one model",
                          metavar="K")

    def __post_init__(self):
        from unroll.tasks.labelled import check_settings
        check_settings(self, "members")


class LanguageModelTask(Task):
    name = "lm"
    page = "unroll.tasks.probes.lm"       # its page in unroll serve (tasks/probes/lm.py)
    help = "character- or word-level language model (the default)"
    sections = {"corpus": CorpusConfig, "bptt": BPTTConfig, "network": ModelConfig, "ensemble": EnsembleConfig}
    optional_sections = ("ensemble",)     # runs written before --members have none (one model)
    train_defaults = {"default_schedule": "cosine"}   # docs/tune.md: the study of 2026-12-06 (with dropout 0.2)
    predict_options = CompleteOptions

    def __init__(self, settings: dict, prepared: dict | None = None):
        super().__init__({"ensemble": EnsembleConfig(), **settings}, prepared)
        self._ids = None
        self._drivers = {}

    # ------------------------------------------------------------------------------------------------
    # Data.

    def prepare(self) -> dict:
        corpus = self.settings["corpus"]
        text, source = read_corpus(corpus.data, corpus.encoding)
        valid_text = text_data.read_text(corpus.valid, corpus.encoding) if has_valid_file(corpus) else None
        vocab_text = text if corpus.level == "word" or valid_text is None else text + valid_text
        vocab = build_vocab(corpus, vocab_text)
        train_ids, valid_ids = encode_splits(corpus, vocab, text, valid_text)
        self.settings["network"] = replace(self.settings["network"], vocab_size=len(vocab))
        self.prepared = {
            "data": {"source": source, "sha256": sha256(text),
                     "valid": str(Path(corpus.valid).resolve()) if has_valid_file(corpus) else None,
                     "valid_sha256": sha256(valid_text) if valid_text is not None else None,
                     "train_tokens": int(train_ids.size), "valid_tokens": int(valid_ids.size)},
            "vocab": {"level": corpus.level, **vocab.to_json()}}
        self._ids = train_ids, valid_ids
        return self.prepared

    @property
    def vocab(self):
        info = dict(self.prepared["vocab"])
        level = info.pop("level", None)
        if level not in VOCABS:
            raise ValueError(f"run configuration names an unknown vocabulary level {level!r}")
        return VOCABS[level].from_json(info)

    def check_prepared(self) -> None:
        self.vocab
        data = self.prepared.get("data")
        if not isinstance(data, dict):
            raise ValueError(f"'data' must be a JSON object, got {type(data).__name__}")
        for key in ("source", "sha256", "valid"):
            if key not in data or not isinstance(data[key], (str, type(None))):
                raise ValueError(f"data.{key} must be a string or null")

    def splits_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of the training and validation streams, from the corpus the run started with."""
        if self._ids is None:
            corpus, data = self.settings["corpus"], self.prepared["data"]
            if data.get("source") is None:
                raise ValueError(f"this run was imported from {self.prepared.get('imported', 'a model file')} and "
                                 "has no training text; give a text file (eval --data FILE, visualize --text FILE)")
            text, _ = read_corpus(corpus.data, corpus.encoding)
            if sha256(text) != data["sha256"]:
                raise ValueError(f"the corpus {data['source']} changed since the run started (SHA-256 differs)")
            valid_text = text_data.read_text(data["valid"], corpus.encoding) if data.get("valid") else None
            self._ids = encode_splits(corpus, self.vocab, text, valid_text)
        return self._ids

    def batches(self, train) -> StreamBatcher:
        return StreamBatcher(self.splits_ids()[0], train.batch_size, self.settings["bptt"].seq_len)

    # ------------------------------------------------------------------------------------------------
    # Model and training.

    def build_model(self, seed: int, dtype=np.float32):
        """The language model, or with --members K > 1 the ensemble of K (unroll/models/lm_ensemble.py)."""
        make = lambda s: LanguageModel.from_config(self.settings["network"], seed=s, dtype=dtype)  # noqa: E731
        return lm_ensemble.build(make, self.settings["ensemble"].members, seed)

    def loss_and_grads(self, model, batch, state=None):
        """Truncated BPTT(k1, k2) on one (x, y) batch; the carried state is {"state", "history"} (an
        ensemble's: the list of its members')."""
        if isinstance(model, lm_ensemble.LMEnsemble):
            return model.loss_and_grads(batch, state, self._driver)
        driver = self._driver(model)
        driver.set_carry(state)
        loss, grads = driver.step(*batch)
        return loss, grads, driver.carry()

    def _driver(self, model) -> TruncatedBPTT:
        """The model's truncated-BPTT driver (one per model: an ensemble's members each have theirs)."""
        if id(model) not in self._drivers:
            bptt = self.settings["bptt"]
            self._drivers[id(model)] = TruncatedBPTT(model, bptt.seq_len, bptt.bptt)
        return self._drivers[id(model)]

    def metrics(self, model, split: str) -> dict:
        """Nats per token over every token of the validation split (or of the file ``split``) once."""
        if split == "valid":
            ids = self.splits_ids()[1]
            if ids.size == 0:                                    # --valid none: nothing to validate on
                return {}
        else:
            ids = self.vocab.encode(known_text(self.vocab, text_data.read_text(split, self.settings["corpus"].encoding), split))
        if ids.size < 2:
            raise ValueError(f"{split} holds {ids.size} token(s): evaluation needs at least 2 (an input and its next)")
        batch = min(self.settings["train"].batch_size, ids.size - 1)   # a short file: fewer columns
        nats = evaluate_stream(model, ids, batch, self.settings["bptt"].seq_len)
        level = self.settings["corpus"].level
        unknown = float(np.mean(ids == 0)) if level == "word" else 0.0      # id 0 is <unk>
        if unknown >= 0.5:
            print(f"unroll: warning: {unknown:.0%} of the {ids.size} tokens of {split} are <unk>: the perplexity "
                  "mostly measures predicting <unk> (a lower --min-count, or text closer to the training corpus)",
                  file=sys.stderr)
        out = {"loss": nats, "tokens": int(ids.size), "level": level}
        if level == "char":
            out["bits_per_char"] = nats / math.log(2)
        else:
            out["perplexity"] = math.exp(nats)
        return out

    def describe(self, metrics: dict) -> str:
        if "loss" not in metrics:
            return f"no validation split (the run was trained with --valid none); give --data FILE (step {metrics.get('step', '?')})"
        if metrics["level"] == "char":
            line = f"{metrics['loss']:.4f} nats/char, {metrics['bits_per_char']:.4f} bits/char"
        else:
            line = f"{metrics['loss']:.4f} nats/word, perplexity {metrics['perplexity']:.2f}"
        return f"{line} ({metrics['tokens']} tokens, step {metrics.get('step', '?')})"

    # ------------------------------------------------------------------------------------------------
    # Text out.

    def predict(self, model, lines, options):
        """Each line, completed by the model up to its end (one output line per input line)."""
        options = options or CompleteOptions()
        vocab = self.vocab
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\n")
            prime = known_text(vocab, line, f"input line {number}")
            prime_ids = vocab.encode(prime) if prime else vocab.encode("\n")
            if len(prime_ids) == 0:
                raise ValueError(f"line {number} holds no token of the vocabulary")
            pieces, previous = [], int(prime_ids[-1])
            for token in model.generate(prime_ids, options.length, options.temperature, options.top_k,
                                        options.greedy, options.seed):
                piece = text_piece(vocab, previous, token)
                if "\n" in piece:
                    pieces.append(piece.split("\n")[0])
                    break
                pieces.append(piece)
                previous = token
            yield line + "".join(pieces)



def _sample_arguments(p) -> None:
    p.add_argument("run_dir", type=Path, help="a run folder (the one holding config.json)")
    p.add_argument("--length", type=int, default=1000, help="tokens to generate")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens")
    p.add_argument("--greedy", action="store_true", help="always take the likeliest token")
    p.add_argument("--prime", default=None, help="text to start from (default: a newline, or the first token)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (default: a fresh one)")


def cmd_sample(args, loaded) -> int:
    task, model, _ = loaded
    if task.name != LanguageModelTask.name:
        raise ValueError(f"{args.run_dir} is a --task {task.name} run; sample reads language-model runs "
                         f"(use unroll predict or unroll eval)")
    vocab = task.vocab
    prime = args.prime if args.prime is not None else ("\n" if "\n" in vocab else vocab.tokens[0])
    prime_ids = vocab.encode(prime)
    if len(prime_ids) == 0:
        raise ValueError("--prime must hold at least one token")
    tokens = model.generate(prime_ids, args.length, args.temperature, args.top_k, args.greedy, args.seed)
    first = next(tokens, None)                                   # bad options fail here, before any output
    out = sys.stdout
    out.write(prime)
    previous = int(prime_ids[-1])
    for token in _chain(first, tokens):
        out.write(text_piece(vocab, previous, token))
        out.flush()
        previous = token
    out.write("\n")
    return 0


# ----------------------------------------------------------------------------------------------------

def read_corpus(path: str | None, encoding: str = "utf-8") -> tuple[str, str]:
    """(text, description) of --data, or of the bundled tiny Shakespeare when path is None."""
    if path is None:
        return text_data.load_bundled("tinyshakespeare"), "bundled:tinyshakespeare"
    return text_data.read_text(path, encoding, "--data"), str(Path(path).resolve())


def known_text(vocab, text: str, where: str) -> str:
    """``text`` without the characters a character vocabulary lacks, saying on stderr how many it skipped
    (a word vocabulary maps unseen words to <unk> itself)."""
    if not isinstance(vocab, VOCABS["char"]):
        return text
    kept, dropped = drop_unknown(text, vocab.tokens)
    if dropped:
        shown = ", ".join(repr(c) for c in list(dropped)[:5]) + (" ..." if len(dropped) > 5 else "")
        print(f"unroll: warning: {where}: {sum(dropped.values())} characters not in the run's vocabulary skipped "
              f"({shown}; the first at {where_first(text, dropped)})", file=sys.stderr)
    return kept


def build_vocab(corpus: CorpusConfig, text: str):
    if corpus.level == "char":
        return VOCABS["char"].from_text(text)
    return VOCABS["word"].from_text(text, min_count=corpus.min_count, tokenizer=corpus.tokenizer)


def encode_splits(corpus: CorpusConfig, vocab, text: str, valid_text: str | None):
    """Token ids of the training and validation streams (last valid_fraction, or --valid's file)."""
    if valid_text is not None:
        return vocab.encode(text), vocab.encode(valid_text)
    if corpus.valid == NO_VALID:
        ids = vocab.encode(text)
        return ids, ids[:0]
    return text_data.split(vocab.encode(text), corpus.valid_fraction)


NO_VALID = "none"        # --valid none: train on the whole text, no validation split


def has_valid_file(corpus: CorpusConfig) -> bool:
    return bool(corpus.valid) and corpus.valid != NO_VALID


def evaluate_stream(model, ids: np.ndarray, batch_size: int, seq_len: int) -> float:
    """Mean nats/token of ``model`` over every token of ``ids`` exactly once, state carried across batches."""
    world = distributed.world()                      # P ranks: each reads its own N/P streams, sums reduced
    total, count, state = 0.0, 0.0, None
    for x, y, mask in eval_batches(ids, batch_size, seq_len):
        if world.size > 1:
            mine = slice(world.rank * x.shape[1] // world.size, (world.rank + 1) * x.shape[1] // world.size)
            x, y, mask = x[:, mine], y[:, mine], mask[:, mine]
        nll, n, state = model.evaluate(x, y, state, mask)
        total += nll
        count += n
    total, count = world.sum(total, count)
    return total / count


def _chain(first, rest):
    """``first`` (unless None), then the rest of the iterator."""
    if first is not None:
        yield first
    yield from rest


def text_piece(vocab, previous: int, token: int) -> str:
    """The text that ``token`` adds after ``previous`` (word vocabularies decide spacing from both)."""
    return vocab.decode([previous, token])[len(vocab.decode([previous])):]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


LanguageModelTask.commands = (Command("sample", "generate text from a trained language model", _sample_arguments,
                                      cmd_sample, needs="run"),)
TASK = LanguageModelTask
