"""The sequence-to-sequence task: train on ``source<TAB>target`` pairs, translate, evaluate.

    unroll data addition|dates|numbers|reverse --n 50000 --out pairs.tsv   reproducible pair sets
    unroll train --task seq2seq --data pairs.tsv [--attention --bidirectional --beam ...]
    unroll predict RUN [FILE] [--beam K] [--attention-plot out.png]   one source per line -> one output
    unroll eval RUN [--data test.tsv]                 loss, exact match, character error rate, BLEU

The model is ``unroll.models.Seq2Seq``; the data format, vocabularies and batches are
``unroll.data.pairs``; decoding is ``unroll.decode``. Sources are text (``tasks/seq2seq_data.PairSources``)
or real vectors (``tasks/inputs.VectorInputs``: a .csv, .ts or .npz file whose label column is the target
text), one input part chosen when the task is made; targets, metrics and predict are the same for both. A
run's config.json keeps the vocabularies and the longest training source, so predict and eval never
rebuild anything from data. Bad input (a line without a tab, an empty line, a token outside the
vocabulary, a source longer than any seen in training) is a one-line error that names the line.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from unroll.config import check_encoding, check_finite, option
from unroll.data import pairs as P
from unroll.data.vocab import UnknownToken
from unroll.decode import beam_translate, greedy_translate, sample_translate
from unroll.nn import ops
from unroll.models.seq2seq import MODES, NETWORK, Seq2Seq, scheduled_sampling_prob
from unroll.tasks.base import Task
from unroll.tasks.inputs import choose
from unroll.tasks.labelled import check_settings
from unroll.tasks.seq2seq_data import COMMANDS, LENGTH_ALLOWANCE, PairSources, cmd_data  # noqa: F401 (tests)
from unroll.tasks.seq2seq_plot import plot_attention
from unroll.tasks.vectors import VectorConfig


@dataclass(frozen=True)
class PairDataConfig:
    data: str | None = option(None, help="TSV file of source<TAB>target pairs (required)")
    valid: str | None = option(None, help="separate validation pairs (default: the last --valid-fraction of --data)")
    valid_fraction: float = option(0.05, help="share of --data held out for validation")
    level: str = option("char", help="tokens are characters or white-space separated words", choices=None)
    encoding: str = option("utf-8", help="text encoding of --data, --valid and eval's --data (e.g. latin-1)")
    max_source_len: int | None = option(None, help="longest source that validation, eval and predict accept "
                                                   f"(default: {LENGTH_ALLOWANCE} x the longest training source)")

    def __post_init__(self):
        P.tokens_of("", self.level)
        check_encoding(self.encoding)
        check_finite(self)
        if self.max_source_len is not None and (isinstance(self.max_source_len, bool) or self.max_source_len < 1):
            raise ValueError(f"--max-source-len must be a positive integer, got {self.max_source_len}")
        if not 0.0 < self.valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must lie in (0, 1), got {self.valid_fraction}")


@dataclass(frozen=True)
class Seq2SeqConfig:
    conditioning: str = option("both", help="C as the decoder's initial state (init), an input at every step "
                                            "(input), or both")
    attention: bool = option(False, help="additive attention over the encoder's outputs")
    scheduled_sampling: float = option(0.0, help="k of Bengio et al.'s schedule p = 1 - k/(k + exp(step/k)) "
                                                 "(0: teacher forcing only)")
    eval_beam: int = option(1, help="beam width used for the validation metrics (1: greedy)")
    reverse_source: bool = option(True, help="the encoder reads each source backwards (Sutskever et al. 2014): "
                                             "the first source tokens end up nearest the first target tokens "
                                             "(the default since #30's runs, docs/seq2seq.md; --no-reverse-source "
                                             "reads them forwards)")

    def __post_init__(self):
        if self.conditioning not in MODES:
            raise ValueError(f"conditioning must be one of {', '.join(MODES)}, got {self.conditioning!r}")
        if self.scheduled_sampling != 0 and not self.scheduled_sampling > 1:
            raise ValueError(f"scheduled_sampling must be 0 (off) or > 1, got {self.scheduled_sampling}")
        if self.eval_beam < 1:
            raise ValueError(f"eval_beam must be at least 1, got {self.eval_beam}")


@dataclass(frozen=True)
class PredictOptions:
    beam: int = option(1, help="beam width (1: greedy)")
    temperature: float = option(0.0, help="sample with this temperature instead (0: greedy or beam)")
    length_penalty: float = option(0.0, help="beam score = log p / length^this")
    max_len: int | None = option(None, help="longest output (default: 2 x the longest training target + 10)")
    attention_plot: str | None = option(None, help="PNG heat map of the first line's attention weights")
    max_source_len: int | None = option(None, help="longest source accepted (default: the run's --max-source-len, "
                                                   f"else {LENGTH_ALLOWANCE} x the longest training source)")
    seed: int = option(0, help="seeds the sampling")

    def __post_init__(self):
        check_settings(self, "beam", "max_len", "max_source_len")
        if self.temperature < 0:
            raise ValueError(f"--temperature must be >= 0 (0: greedy or beam), got {self.temperature}")


class Seq2SeqTask(Task):
    name, help = "seq2seq", "encoder-decoder on source<TAB>target pairs"
    page = "unroll.tasks.probes.seq2seq"       # its page in unroll serve (tasks/probes/seq2seq.py)
    sections = {"pairs": PairDataConfig, "seq2seq": Seq2SeqConfig, "network": NETWORK,   # NETWORK: the model's
                "vectors": VectorConfig}
    optional_sections = ("vectors",)           # runs written before vector input have none
    absent_settings = {"seq2seq": {"reverse_source": False}}   # runs written before --reverse-source read forwards
    train_defaults = {"batch_size": 128, "lr": 2e-3, "eval_every": 200}   # docs/seq2seq.md addition: 98.46%
    predict_options = PredictOptions
    commands = COMMANDS

    def __init__(self, settings, prepared=None):
        super().__init__({"vectors": VectorConfig(), **settings}, prepared)
        self.inputs = choose(self, "pairs", ("encoding",), {}, token_part=PairSources)   # --level splits targets

    # ------------------------------------------------------------------------------------------------
    # Data.

    def prepare(self) -> dict:
        train, level = self.inputs.read("train", "--data"), self.settings["pairs"].level
        keys = self.inputs.prepare(train)
        self.prepared = {**keys, "tgt_vocab": P.PairVocab.build(train.labels, level).to_json(),
                         "max_source": keys.get("max_source", keys.get("max_length")),
                         "max_target": max(len(P.tokens_of(t, level)) for t in train.labels),
                         "train_pairs": len(train.items)}
        return self.prepared

    @property
    def target_vocab(self) -> P.PairVocab:
        if self.prepared is None:
            raise ValueError("the task has no vocabularies before prepare()")
        return P.PairVocab.from_json(self.prepared["tgt_vocab"])

    @property
    def vocabs(self):
        """(source, target) PairVocabs of a token run."""
        return self.inputs.vocab, self.target_vocab

    def batches(self, train):
        self.inputs.check_digest()                   # a resumed run reads the data it started with
        self._batches = P.PairBatches(self._encoded("train")[1], train.batch_size, self.stream(train.seed, "train"),
                                      getattr(train, "dtype", None) or np.float32)
        return self._batches

    def count(self, batch) -> int:
        return int(batch.src_mask.sum() + batch.tgt_mask.sum())

    def weight(self, batch) -> float:
        return float(batch.tgt_mask.sum())           # the loss is the mean over real target tokens

    def build_model(self, seed: int, dtype=np.float32):
        c, n, tgt = self.settings["seq2seq"], self.settings["network"], self.target_vocab
        vocab_size, layer = self.inputs.model_input(n.hidden_size)
        return Seq2Seq.from_config(n, vocab_size, len(tgt), conditioning=c.conditioning, attention=c.attention,
                                   bos_id=tgt.bos_id, eos_id=tgt.eos_id, seed=seed, dtype=dtype, source_input=layer)

    def loss_and_grads(self, model, batch, state=None):
        k = self.settings["seq2seq"].scheduled_sampling
        drawn = getattr(getattr(self, "_batches", None), "drawn", 0)
        model.sampling_prob = scheduled_sampling_prob(drawn, k) if k else 0.0
        return model.loss_and_grads(batch, state)

    # ------------------------------------------------------------------------------------------------
    # Metrics and predictions.

    def encode_source(self, source, where: str, max_len: int | None = None, check: bool = True) -> np.ndarray:
        """One source (a line of text | raw vectors (T, D)) -> what the encoder reads: ids | standardised x,
        backwards with --reverse-source; a one-line error starting with ``where`` (the file and line or sequence).

        max_len: the longest source accepted (default: --max-source-len, else 10 x the longest training source)
        """
        seq = self.inputs.encode_one(source, where, max_len, check)
        return np.ascontiguousarray(seq[::-1]) if self.settings["seq2seq"].reverse_source else seq

    def translate(self, model, src_ids, beam: int = 1, max_len: int | None = None, temperature: float = 0.0,
                  length_penalty: float = 0.0, rng=None):
        """Hypotheses for a list of encoded sources (batched when greedy or sampling)."""
        max_len = max_len or 2 * self.prepared["max_target"] + 10
        if beam > 1:
            return [beam_translate(model, s, beam, max_len, length_penalty) for s in src_ids]
        out = []
        for start in range(0, len(src_ids), 256):
            chunk = src_ids[start:start + 256]
            batch = P.make_batch([(s, []) for s in chunk], model.dtype)
            if temperature > 0:
                out += sample_translate(model, batch.src, batch.src_mask, max_len, temperature, rng)
            else:
                out += greedy_translate(model, batch.src, batch.src_mask, max_len)
        return out

    def _encoded(self, split: str):
        """(target texts, [(source, target ids)]) of "train", "valid" or a file; errors name the file and item.
        The run's own data are strict; a file given to eval scores the pairs it can and warns of the rest."""
        ex, tgt = self.inputs.read(split, "--data" if split == "train" else None), self.target_vocab
        kept, ids, skipped = [], [], []
        for key, source, text in zip(ex.keys, ex.items, ex.labels):
            where = self.inputs.where(ex.source, key)
            try:
                try:
                    target = tgt.encode(text)
                except UnknownToken as err:
                    raise UnknownToken(f"{where}: target {err}") from None
                ids.append((self.encode_source(source, where, check=split != "train"), target))
                kept.append(text)
            except UnknownToken as err:
                if split in ("train", "valid"):
                    raise ValueError(str(err)) from None
                skipped.append(str(err))
        if skipped and ids:
            print(f"unroll: warning: {ex.source}: {len(skipped)} of {len(ex.items)} pairs skipped, holding a token "
                  f"outside the run's vocabularies (first: {skipped[0]})", file=sys.stderr)
        if not ids:
            raise ValueError(f"{ex.source}: none of its {len(ex.items)} pairs can be evaluated (first: {skipped[0]})")
        return kept, ids

    def check_data(self) -> None:
        self._encoded("valid")

    def metrics(self, model, split: str) -> dict:
        from unroll.tasks import sequence_metrics as M
        tgt = self.target_vocab
        texts, ids = self._encoded(split)
        total, count = 0.0, 0.0
        for start in range(0, len(ids), 256):
            batch = P.make_batch(ids[start:start + 256], model.dtype)
            logits, _ = model.forward(batch.src, batch.src_mask, batch.tgt_in, training=False)
            logp = ops.log_softmax(logits.astype(np.float64))
            t, n = np.indices(batch.tgt_out.shape)
            total -= float((logp[t, n, batch.tgt_out] * batch.tgt_mask).sum())
            count += float(batch.tgt_mask.sum())
        hyps = self.translate(model, [s for s, _ in ids], self.settings["seq2seq"].eval_beam)
        preds = [tgt.decode(h.tokens) for h in hyps]
        refs = [P.detokenize(P.tokens_of(t, tgt.level), tgt.level) for t in texts]
        return {"loss": total / count, **M.all_metrics(preds, refs), "pairs": len(texts)}

    def done(self, metrics: dict) -> bool:
        return metrics.get("exact_match", 0.0) >= 1.0

    def monitor(self) -> tuple[str, str]:
        return "exact_match", "max"

    def predict(self, model, lines, options):
        self.inputs.from_lines()
        options, tgt = options or PredictOptions(), self.target_vocab
        rng = np.random.default_rng(options.seed)
        for number, line in enumerate(lines, 1):
            try:
                ids = self.encode_source(line, f"input line {number}", options.max_source_len)
            except UnknownToken as err:              # one line the model cannot read: an empty output line
                print(f"unroll: warning: {err}; its output line is left empty", file=sys.stderr)
                yield ""
                continue
            hyp = self.translate(model, [ids], options.beam, options.max_len, options.temperature,
                                 options.length_penalty, rng)[0]
            if number == 1 and options.attention_plot:
                plot_attention(hyp.attention, P.tokens_of(line, self.settings["pairs"].level),
                               [tgt.tokens[i] for i in hyp.tokens] + (["<eos>"] if hyp.finished else []),
                               options.attention_plot)
            yield tgt.decode(hyp.tokens)

    def predict_file(self, model, path, options):
        """id<TAB>the decoded target of each sequence of a vector file; None for a token run (the CLI reads lines)."""
        options = options or PredictOptions()
        read = self.inputs.read_for_predict(path, options.max_source_len)
        if read is None:
            return None
        rng, reverse = np.random.default_rng(options.seed), self.settings["seq2seq"].reverse_source
        return (f"{sid}\t" + self.target_vocab.decode(self.translate(
                    model, [np.ascontiguousarray(x[::-1]) if reverse else x], options.beam, options.max_len,
                    options.temperature, options.length_penalty, rng)[0].tokens)
                for sid, x in zip(*read))


TASK = Seq2SeqTask
