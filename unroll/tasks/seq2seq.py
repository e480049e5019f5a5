"""The sequence-to-sequence task: train on ``source<TAB>target`` pairs, translate, evaluate.

    unroll data addition|dates|numbers|reverse --n 50000 --out pairs.tsv   reproducible pair sets
    unroll train --task seq2seq --data pairs.tsv [--attention --bidirectional --beam ...]
    unroll predict RUN [FILE] [--beam K] [--attention-plot out.png]   one source per line -> one output
    unroll eval RUN [--data test.tsv]                 loss, exact match, character error rate, BLEU

The model is ``unroll.models.Seq2Seq``; the data format, vocabularies and batches are
``unroll.data.pairs``; decoding is ``unroll.decode``. A run's config.json keeps both vocabularies and
the longest training source, so predict and eval never rebuild anything from data. Bad input (a line
without a tab, an empty line, a token outside the vocabulary, a source longer than any seen in training)
is a one-line error that names the line.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from unroll.command import Command
from unroll.config import check_encoding, check_finite, option
from unroll.data import pairs as P
from unroll.data.pair_generators import KINDS as PAIR_KINDS
from unroll.data.vocab import UnknownToken
from unroll.decode import beam_translate, greedy_translate, sample_translate
from unroll.nn import ops
from unroll.models.seq2seq import MODES, NETWORK, Seq2Seq, scheduled_sampling_prob
from unroll.tasks.base import Task
from unroll.tasks.labelled import check_settings


LENGTH_ALLOWANCE = 10      # sources up to 10 x the longest training one, as classify and tag allow


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
    reverse_source: bool = option(False, help="the encoder reads each source backwards (Sutskever et al. 2014): "
                                              "the first source tokens end up nearest the first target tokens")

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
    sections = {"pairs": PairDataConfig, "seq2seq": Seq2SeqConfig, "network": NETWORK}   # NETWORK: the model's
    train_defaults = {"batch_size": 128, "lr": 2e-3, "eval_every": 200}   # docs/seq2seq.md addition: 98.46%
    predict_options = PredictOptions

    # ------------------------------------------------------------------------------------------------
    # Data.

    def prepare(self) -> dict:
        data = self.settings["pairs"]
        train, _ = self._split()
        src = P.PairVocab.build([s for s, _ in train], data.level)
        tgt = P.PairVocab.build([t for _, t in train], data.level)
        self.prepared = {"src_vocab": src.to_json(), "tgt_vocab": tgt.to_json(),
                         "max_source": max(len(P.tokens_of(s, data.level)) for s, _ in train),
                         "max_target": max(len(P.tokens_of(t, data.level)) for _, t in train),
                         "train_pairs": len(train)}
        return self.prepared

    def _split(self):
        data = self.settings["pairs"]
        if data.data is None:
            raise ValueError("the seq2seq task needs --data, a TSV file of source<TAB>target pairs")
        pairs = P.read_pairs(data.data, data.encoding, "--data")
        if data.valid is not None:
            return pairs, P.read_pairs(data.valid, data.encoding)
        n_valid = max(1, int(round(len(pairs) * data.valid_fraction)))
        if n_valid >= len(pairs):
            raise ValueError(f"{data.data} holds {len(pairs)} pairs: too few to hold out a validation share")
        return pairs[:-n_valid], pairs[-n_valid:]

    @property
    def vocabs(self):
        if self.prepared is None:
            raise ValueError("the task has no vocabularies before prepare()")
        return P.PairVocab.from_json(self.prepared["src_vocab"]), P.PairVocab.from_json(self.prepared["tgt_vocab"])

    def batches(self, train):
        src, tgt = self.vocabs
        ids = P.encode_pairs(self._split()[0], src, tgt, self.settings["pairs"].data)
        if self.settings["seq2seq"].reverse_source:
            ids = [(list(s_ids)[::-1], t_ids) for s_ids, t_ids in ids]
        self._batches = P.PairBatches(ids, train.batch_size, self.stream(train.seed, "train"))
        return self._batches

    def count(self, batch) -> int:
        return int(batch.src_mask.sum() + batch.tgt_mask.sum())

    def weight(self, batch) -> float:
        return float(batch.tgt_mask.sum())           # the loss is the mean over real target tokens

    def build_model(self, seed: int, dtype=np.float32):
        c = self.settings["seq2seq"]
        src, tgt = self.vocabs
        return Seq2Seq.from_config(self.settings["network"], len(src), len(tgt), conditioning=c.conditioning,
                                   attention=c.attention, bos_id=tgt.bos_id, eos_id=tgt.eos_id, seed=seed, dtype=dtype)

    def loss_and_grads(self, model, batch, state=None):
        k = self.settings["seq2seq"].scheduled_sampling
        drawn = getattr(getattr(self, "_batches", None), "drawn", 0)
        model.sampling_prob = scheduled_sampling_prob(drawn, k) if k else 0.0
        return model.loss_and_grads(batch, state)

    # ------------------------------------------------------------------------------------------------
    # Metrics and predictions.

    def encode_source(self, line: str, where: str, max_len: int | None = None) -> np.ndarray:
        """One source line -> ids; a one-line error starting with ``where`` (the file and line).

        max_len: the longest source accepted (default: --max-source-len, else 10 x the longest training source)
        """
        src, _ = self.vocabs
        longest = max_len or self.settings["pairs"].max_source_len or LENGTH_ALLOWANCE * self.prepared["max_source"]
        if not line.strip():
            raise ValueError(f"{where}: the source is empty")
        try:
            ids = src.encode(line)
        except UnknownToken as err:
            raise UnknownToken(f"{where}: {err}") from None
        if len(ids) > longest:
            raise ValueError(f"{where}: the source has {len(ids)} tokens, more than the {longest} accepted (the "
                             f"longest training source has {self.prepared['max_source']}; --max-source-len N "
                             "accepts longer ones)")
        return ids[::-1] if self.settings["seq2seq"].reverse_source else ids

    def translate(self, model, src_ids, beam: int = 1, max_len: int | None = None, temperature: float = 0.0,
                  length_penalty: float = 0.0, rng=None):
        """Hypotheses for a list of source id lists (batched when greedy or sampling)."""
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
        """(pairs, their (source ids, target ids)) of "valid" or a file; errors name the file and its line."""
        _, tgt = self.vocabs
        data = self.settings["pairs"]
        if split != "valid":
            name, pairs, first = split, P.read_pairs(split, data.encoding), 1
        elif data.valid is not None:
            name, pairs, first = data.valid, P.read_pairs(data.valid, data.encoding), 1
        else:                                        # the held-out share is the last lines of --data
            train, pairs = self._split()
            name, first = data.data, len(train) + 1
        kept, ids, skipped = [], [], []
        for number, (s, t) in enumerate(pairs, first):
            where = f"{name} line {number}"
            try:
                try:
                    target = tgt.encode(t)
                except UnknownToken as err:
                    raise UnknownToken(f"{where}: target {err}") from None
                ids.append((self.encode_source(s, where), target))
                kept.append((s, t))
            except UnknownToken as err:
                if split == "valid":                 # the run's own validation data: strict
                    raise ValueError(str(err)) from None
                skipped.append(str(err))             # a file given to eval: score what can be scored
        if skipped and ids:
            print(f"unroll: warning: {name}: {len(skipped)} of {len(pairs)} pairs skipped, holding a token outside "
                  f"the run's vocabularies (first: {skipped[0]})", file=sys.stderr)
        if not ids:
            raise ValueError(f"{name}: none of its {len(pairs)} pairs can be evaluated (first: {skipped[0]})")
        return kept, ids

    def check_data(self) -> None:
        self._encoded("valid")

    def metrics(self, model, split: str) -> dict:
        from unroll import metrics as M
        _, tgt = self.vocabs
        pairs, ids = self._encoded(split)
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
        refs = [P.detokenize(P.tokens_of(t, tgt.level), tgt.level) for _, t in pairs]
        return {"loss": total / count, **M.all_metrics(preds, refs), "pairs": len(pairs)}

    def done(self, metrics: dict) -> bool:
        return metrics.get("exact_match", 0.0) >= 1.0

    def monitor(self) -> tuple[str, str]:
        return "exact_match", "max"

    def predict(self, model, lines, options):
        options = options or PredictOptions()
        _, tgt = self.vocabs
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

    # ------------------------------------------------------------------------------------------------



def _pair_options(kind: str, p) -> None:
    """The options of `unroll data addition|dates|numbers|reverse`."""
    p.set_defaults(kind=kind)
    p.add_argument("--n", type=int, default=10_000, help="distinct pairs (default 10000)")
    p.add_argument("--test", type=int, default=0, help="further distinct pairs written to --test-out")
    p.add_argument("--test-out", type=Path, default=None, help="where the --test pairs go")
    p.add_argument("--seed", type=int, default=0, help="fixes the pairs drawn (default 0)")
    p.add_argument("--min-len", type=int, default=10, help="reverse: shortest string")
    p.add_argument("--max-len", type=int, default=60, help="reverse: longest string")
    p.add_argument("--max-digits", type=int, default=3, help="addition: digits per operand")
    p.add_argument("--out", type=Path, default=None, help="TSV file (default: standard output)")


def cmd_data(args: argparse.Namespace) -> int:
    from unroll.data.pair_generators import generate
    options = {"reverse": {"min_len": args.min_len, "max_len": args.max_len},
               "addition": {"max_digits": args.max_digits}}.get(args.kind, {})
    if args.test and args.test_out is None:
        raise ValueError("--test needs --test-out, the file its pairs go to")
    pairs = generate(args.kind, args.n + args.test, args.seed, **options)
    if args.out is None:
        sys.stdout.write("".join(f"{s}\t{t}\n" for s, t in pairs[:args.n]))
    else:
        P.write_pairs(args.out, pairs[:args.n])
    if args.test:
        P.write_pairs(args.test_out, pairs[args.n:])
    return 0


def plot_attention(alpha, src_tokens, out_tokens, path) -> None:
    """Heat map of attention weights alpha (U, T): output tokens down, source tokens across."""
    if alpha is None:
        raise ValueError("--attention-plot needs a run trained with --attention")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    U, T = alpha.shape
    fig, ax = plt.subplots(figsize=(max(3, 0.3 * T + 1.5), max(2.5, 0.3 * U + 1.2)))
    im = ax.imshow(alpha, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(T), src_tokens[:T], rotation=90 if max(map(len, src_tokens)) > 2 else 0)
    ax.set_yticks(range(U), out_tokens[:U])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.colorbar(im, ax=ax, fraction=0.05)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


Seq2SeqTask.commands = tuple(
    Command(kind, f"a reproducible set of source<TAB>target pairs: {kind}", partial(_pair_options, kind), cmd_data,
            "Generate pairs (a seed fixes them): addition, dates, numbers, reverse.", kind="data")
    for kind in PAIR_KINDS)

# Sequences of real vectors (.csv, .ts, .npz data; tasks/vectors.py) through the same task.
from unroll.tasks.vector_parts import Seq2SeqVectors  # noqa: E402
from unroll.tasks.vectors import with_vectors  # noqa: E402

TASK = with_vectors(Seq2SeqTask, Seq2SeqVectors)
