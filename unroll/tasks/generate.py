"""``unroll train --task generate``: one-to-many, a sequence from a label or a vector (ConditionalGenerator).

Data (``--data``): the classify task's formats, read the other way round: a TSV of ``label<TAB>text`` or one
file per class; with ``--cond vector`` the TSV's first column is a row of numbers (``0.5 -1 2``) instead of a
label. Each text becomes ``<eos> w_1 .. w_n`` -> ``w_1 .. w_n <eos>`` (teacher forcing; the one token
``<eos>`` both starts and ends a sentence). ``--mode h0|input|both|first`` picks how the vector enters.

Metrics: loss (nats/token over every real target, <eos> included) and perplexity. Predict: one condition a
line (a label, or numbers) -> one generated text, by temperature / top-k sampling or greedily.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unroll.config import option
from unroll.data.buckets import eval_order
from unroll.data.vocab import detokenize
from unroll.models.generator import MODES, NETWORK, ConditionalGenerator, GenerateBatch
from unroll.tasks import labelled as L
from unroll.tasks.base import Task
from unroll.tasks.classify import read_examples

EOS = "<eos>"


@dataclass(frozen=True)
class GenerateConfig:
    data: str | None = option(None, help="TSV of label<TAB>text (or numbers<TAB>text), or one file per class")
    valid: str | None = option(None, help="validation file in the same format (default: hold out --valid-fraction)")
    valid_fraction: float = option(0.1, help="share of --data held out for validation")
    encoding: str = option("utf-8", help="text encoding of the data files")
    cond: str = option("label", help="label (embedded) | vector (a row of numbers)")
    mode: str = option("both", help="h0 | input | both | first: how the condition enters the decoder")
    level: str = option("word", help="tokens: word | char")
    tokenizer: str = option("punct", help="word level: punct | space")
    min_count: int = option(1, help="rarer tokens become <unk>")

    def __post_init__(self):
        for name, value, allowed in (("cond", self.cond, ("label", "vector")), ("mode", self.mode, MODES),
                                     ("level", self.level, L.LEVELS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        L.check_settings(self, "min_count")
        if self.tokenizer != "punct" and self.level == "char":
            raise ValueError("--tokenizer applies to --level word, not to --level char (every character is a token)")


@dataclass(frozen=True)
class GeneratePredictOptions:
    temperature: float = option(1.0, help="sampling temperature")
    top_k: int | None = option(None, "--top-k", help="sample among the k most likely tokens")
    greedy: bool = option(False, help="always take the most likely token")
    max_length: int = option(60, help="stop after this many tokens")
    seed: int = option(0, help="sampling seed")
    beam: int = option(1, help="beam search with this many beams (1: sample, or greedy with --greedy)")

    def __post_init__(self):
        L.check_settings(self, "top_k", "max_length")
        if not self.temperature > 0:
            raise ValueError(f"--temperature must be positive, got {self.temperature}")


class GenerateTask(Task):
    name, help = "generate", "one-to-many: a sequence from a label or a vector"
    sections = {"generate": GenerateConfig, "network": NETWORK}     # NETWORK: the model's defaults, the CLI's
    train_defaults = {"eval_every": 200, "log_every": 20}
    predict_options = GeneratePredictOptions
    page = "unroll.tasks.probes.generate"
    per_sequence = ("cond",)

    @property
    def cfg(self) -> GenerateConfig:
        return self.settings["generate"]

    def prepare(self) -> dict:
        examples = read_examples(self.cfg.data, self.cfg.encoding, "--data")
        train_idx, _ = self._split(examples)
        tokens = [self.tokens(examples[i][1]) for i in train_idx]
        vocab = L.build_vocab(tokens + [[EOS]] * self.cfg.min_count, self.cfg.min_count, self.cfg.tokenizer)  # kept
        self.prepared = {"vocab": vocab.to_json(), "max_length": max(map(len, tokens)),
                         "data_sha256": L.file_digest(L.data_files(self.cfg.data))}
        if self.cfg.cond == "label":
            self.prepared["labels"] = sorted({examples[i][0] for i in train_idx})
        else:
            self.prepared["cond_size"] = len(self._vector(examples[0][0], f"{self.cfg.data}: example 1"))
        return self.prepared

    def batches(self, train):
        L.check_digest(self.prepared, L.data_files(self.cfg.data))
        conds, seqs = self._data("train")
        return L.batches([len(s) + 1 for s in seqs], train.batch_size, train.seed,
                         lambda index: self._batch(conds, seqs, index))

    def build_model(self, seed: int, dtype=np.float32):
        c, p = self.cfg, self.prepared
        kind = dict(num_classes=len(p["labels"])) if c.cond == "label" else dict(cond_size=p["cond_size"])
        return ConditionalGenerator.from_config(self.settings["network"], len(p["vocab"]["tokens"]), mode=c.mode,
                                                seed=seed, dtype=dtype, **kind)

    def metrics(self, model, split: str) -> dict:
        conds, seqs = self._data(split)
        nll = count = 0.0
        for index in eval_order([len(s) + 1 for s in seqs], 128):
            cond, inputs, targets, mask = self._batch(conds, seqs, index)
            logits, _ = model.forward(cond, inputs, mask, training=False)
            logp = logits - logits.max(axis=2, keepdims=True)
            logp = logp - np.log(np.exp(logp).sum(axis=2, keepdims=True))
            picked = np.take_along_axis(logp, targets[:, :, None], axis=2)[:, :, 0]
            nll -= float((picked * mask).sum())
            count += float(mask.sum())
        return {"loss": nll / count, "perplexity": float(np.exp(nll / count))}

    def predict(self, model, lines, options):
        o = options or GeneratePredictOptions()
        tokens, eos = self.prepared["vocab"]["tokens"], self.prepared["vocab"]["tokens"].index(EOS)
        rng = np.random.default_rng(o.seed)
        for number, line in enumerate(lines, 1):
            cond = self._condition(line.strip(), f"line {number}")
            if o.beam > 1:
                ids = model.beam_generate(cond, bos=eos, eos=eos, max_len=o.max_length, beam=o.beam).tokens
            else:
                ids = model.generate(cond, bos=eos, eos=eos, max_len=o.max_length, temperature=o.temperature,
                                     top_k=o.top_k, greedy=o.greedy, rng=rng)
            words = [tokens[i] for i in ids]
            yield "".join(words) if self.cfg.level == "char" else detokenize(words, self.cfg.tokenizer)

    # ------------------------------------------------------------------------------------------------

    def tokens(self, text: str) -> list[str]:
        """The tokens the run reads from one text (its --level and --tokenizer)."""
        return L.tokens_of(text, self.cfg.level, self.cfg.tokenizer)

    def _split(self, examples):
        if self.cfg.valid is not None:
            return np.arange(len(examples)), None
        return L.split_indices(len(examples), self.cfg.valid_fraction)

    def _vector(self, text: str, where: str) -> np.ndarray:
        try:
            v = np.array(text.replace(",", " ").split(), dtype=np.float64)
        except ValueError:
            raise ValueError(f"{where}: expected a row of numbers, got {text!r}") from None
        if v.size == 0:
            raise ValueError(f"{where}: expected a row of numbers, got nothing")
        if not np.isfinite(v).all():
            raise ValueError(f"{where}: the numbers must be finite, got {text!r}")
        return v

    def _condition(self, text: str, where: str):
        if self.cfg.cond == "label":
            if text not in self.prepared["labels"]:
                raise ValueError(f"{where}: unknown label {text!r} (the run's labels: "
                                 f"{', '.join(self.prepared['labels'])})")
            return self.prepared["labels"].index(text)
        v = self._vector(text, where)
        if v.size != self.prepared["cond_size"]:
            raise ValueError(f"{where}: expected {self.prepared['cond_size']} numbers, got {v.size}")
        return v

    def check_data(self) -> None:
        self._data("valid")                          # unknown labels, tags or conditions: before the folder exists

    def _data(self, split: str):
        """(conditions: int (M,) or float (M, F), token id sequences) of "train", "valid" or a file."""
        if split in ("train", "valid") and not (split == "valid" and self.cfg.valid):
            examples = read_examples(self.cfg.data, self.cfg.encoding)
            train_idx, valid_idx = self._split(examples)
            source, chosen = self.cfg.data, [examples[i] for i in (train_idx if split == "train" else valid_idx)]
            numbers = [int(i) + 1 for i in (train_idx if split == "train" else valid_idx)]
        else:
            source = self.cfg.valid if split == "valid" else split
            chosen = read_examples(source, self.cfg.encoding)
            numbers = range(1, len(chosen) + 1)
        stoi = {t: i for i, t in enumerate(self.prepared["vocab"]["tokens"])}
        conds = [self._condition(c, f"{source}: example {k}") for k, (c, _) in zip(numbers, chosen)]
        seqs = [L.encode(stoi, self.tokens(t)) for _, t in chosen]
        return np.array(conds), seqs

    def _batch(self, conds, seqs, index) -> GenerateBatch:
        eos = self.prepared["vocab"]["tokens"].index(EOS)
        inputs, mask = L.pad([np.concatenate([[eos], seqs[i]]) for i in index], pad_id=eos)
        targets, _ = L.pad([np.concatenate([seqs[i], [eos]]) for i in index], pad_id=eos)
        return GenerateBatch(conds[index], inputs, targets, mask)

    def count(self, batch) -> int:
        return int(batch.mask.sum())


TASK = GenerateTask
