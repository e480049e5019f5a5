"""Sequence-to-sequence targets (issue #11): generate pairs, train a Seq2Seq, score held-out pairs.

    python benchmarks/seq2seq.py addition --minutes 30 --out docs/seq2seq/addition.json
    python benchmarks/seq2seq.py dates --attention --minutes 30 --out docs/seq2seq/dates-attention.json
    python benchmarks/seq2seq.py numbers --minutes 30 --out docs/seq2seq/numbers.json
    python benchmarks/seq2seq.py addition --reverse-source --minutes 10 --out docs/seq2seq/addition-reversed.json
    python benchmarks/seq2seq.py reverse --attention --min-len 10 --max-len 60 --out docs/seq2seq/reverse-attn.json
    python benchmarks/seq2seq.py plot-reverse docs/seq2seq/reverse-c.json docs/seq2seq/reverse-attn.json \
        --out docs/seq2seq/reverse.png

Each run draws train + held-out pairs from one seeded generator (held-out sources never occur in
training), trains with Adam and global-norm clipping until ``--minutes`` have passed or the validation
exact match reaches ``--stop-at``, halves the learning rate when validation stops improving, and writes
a JSON record (``--out`` or ``--json``): the date, machine and command, settings, steps, seconds, and on the held-out pairs exact match, CER, per-character
accuracy (Keras' figure) and BLEU for greedy decoding and (on ``--beam-eval`` pairs) beam search k = 5, plus exact match by source length.
Times are wall-clock on whatever machine runs it (one BLAS thread).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from unroll.bench.measure import provenance  # noqa: E402
from unroll.tasks import sequence_metrics as metrics  # noqa: E402
from unroll.data import pair_generators as gen  # noqa: E402
from unroll.data.pairs import PairVocab, batches, encode_pairs  # noqa: E402
from unroll.decode import beam_translate, greedy_translate  # noqa: E402
from unroll.models.seq2seq import Seq2Seq  # noqa: E402
from unroll.train.optim import Adam, clip_grad_norm  # noqa: E402

LEVEL = {"addition": "char", "dates": "char", "numbers": "word", "reverse": "char"}


def translate(model, src_ids, tgt_vocab, max_len, chunk=500):
    """Greedy outputs for many sources, in chunks sorted by length; returns strings in input order."""
    order = sorted(range(len(src_ids)), key=lambda i: len(src_ids[i]))
    out = [None] * len(src_ids)
    for start in range(0, len(order), chunk):
        idx = order[start:start + chunk]
        T = max(len(src_ids[i]) for i in idx)
        src, mask = np.zeros((T, len(idx)), np.int64), np.zeros((T, len(idx)), model.dtype)
        for n, i in enumerate(idx):
            src[:len(src_ids[i]), n], mask[:len(src_ids[i]), n] = src_ids[i], 1
        for i, hyp in zip(idx, greedy_translate(model, src, mask, max_len)):
            out[i] = tgt_vocab.decode(hyp.tokens)
    return out


def train(model, train_ids, valid, tgt_vocab, args, log):
    """valid: (source id lists, reference strings)."""
    opt, rng = Adam(model.params, args.lr), np.random.default_rng(args.seed)
    start, step, best, stale, history = time.time(), 0, -1.0, 0, []
    max_len = max(len(t) for _, t in train_ids) + 5
    while True:
        for batch in batches(train_ids, args.batch, rng):
            loss, grads, _ = model.loss_and_grads(batch)
            clip_grad_norm(grads, args.clip)
            opt.step(grads)
            step += 1
            if step % args.eval_every == 0:
                em = metrics.exact_match(translate(model, valid[0], tgt_vocab, max_len), valid[1])
                elapsed = time.time() - start
                history.append({"step": step, "seconds": round(elapsed, 1), "loss": loss, "valid_exact": em})
                log(f"step {step} {elapsed:.0f}s loss {loss:.4f} valid exact {em:.4f} lr {opt.lr:.2e}")
                if em > best:
                    best, stale = em, 0
                elif best >= 0.5:                          # plateau near the end: halve the rate
                    stale += 1
                    if stale >= 3 and opt.lr > args.lr / 16:
                        opt.lr, stale = opt.lr * 0.5, 0
                if em >= args.stop_at or elapsed > 60 * args.minutes:
                    return step, elapsed, history


def char_accuracy(preds, refs) -> float:
    """Per-character accuracy as Keras' example counts it: position i of the output right, over
    max(len(prediction), len(reference)) positions of each pair (a missing or extra character is wrong)."""
    hits = sum(sum(a == b for a, b in zip(p, r)) for p, r in zip(preds, refs))
    return hits / max(1, sum(max(len(p), len(r)) for p, r in zip(preds, refs)))


def evaluate(model, test_pairs, test_ids, tgt_vocab, beam_n, max_len):
    srcs, refs = [s for s, _ in test_pairs], [t for _, t in test_pairs]
    t0 = time.time()
    preds = translate(model, [s for s, _ in test_ids], tgt_vocab, max_len)
    result = {"n": len(refs), "greedy": metrics.all_metrics(preds, refs), "greedy_seconds": time.time() - t0}
    by_len = defaultdict(list)
    for s, p, r in zip(srcs, preds, refs):
        by_len[len(s)].append(p == r)
    result["greedy_exact_by_source_length"] = {k: float(np.mean(v)) for k, v in sorted(by_len.items())}
    result["greedy"]["char_accuracy"] = char_accuracy(preds, refs)
    result["greedy_pairs_by_source_length"] = {k: len(v) for k, v in sorted(by_len.items())}
    if beam_n:
        t0 = time.time()
        beam = [tgt_vocab.decode(beam_translate(model, s, 5, max_len).tokens) for s, _ in test_ids[:beam_n]]
        result["beam5"] = {"n": beam_n, **metrics.all_metrics(beam, refs[:beam_n]),
                           "greedy_exact_same_pairs": metrics.exact_match(preds[:beam_n], refs[:beam_n]),
                           "seconds": time.time() - t0}
    return result


def run(args):
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    options = {"min_len": args.min_len, "max_len": args.max_len} if args.task == "reverse" else {}
    pairs = gen.generate(args.task, args.train + args.valid + args.test, seed=args.seed, **options)
    train_pairs, valid_pairs = pairs[:args.train], pairs[args.train:args.train + args.valid]
    test_pairs = pairs[args.train + args.valid:]
    level = LEVEL[args.task]
    src_vocab = PairVocab.build([s for s, _ in train_pairs], level)
    tgt_vocab = PairVocab.build([t for _, t in train_pairs], level)
    keep = lambda ps: [(s, t) for s, t in ps if all(  # noqa: E731
        tok in src_vocab.tokens for tok in (list(s) if level == "char" else s.split()))]
    valid_pairs, test_pairs = keep(valid_pairs), keep(test_pairs)
    train_ids = encode_pairs(train_pairs, src_vocab, tgt_vocab)
    valid_src = [src_vocab.encode(s) for s, _ in valid_pairs]
    test_ids = [(src_vocab.encode(s), None) for s, _ in test_pairs]
    if args.reverse_source:                        # Sutskever et al.: the encoder reads each source backwards
        train_ids = [(list(s)[::-1], t) for s, t in train_ids]
        valid_src = [list(s)[::-1] for s in valid_src]
        test_ids = [(list(s)[::-1], t) for s, t in test_ids]
    model = Seq2Seq(len(src_vocab), len(tgt_vocab), args.hidden, args.layers, args.cell, args.bidirectional,
                    args.conditioning, args.attention, args.embedding, args.attention_size, bos_id=1, eos_id=2, seed=args.seed)
    log(f"{args.task}: {len(train_ids)} train, {len(valid_src)} valid, {len(test_pairs)} test pairs; "
        f"vocab {len(src_vocab)} -> {len(tgt_vocab)}; {sum(v.size for v in model.params.values())} parameters")
    steps, seconds, history = train(model, train_ids, (valid_src, [t for _, t in valid_pairs]), tgt_vocab, args, log)
    max_len = max(len(t) for _, t in train_ids) + 5
    result = evaluate(model, test_pairs, test_ids, tgt_vocab, args.beam_eval, max_len)
    record = provenance() | {"task": args.task, "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "steps": steps, "train_seconds": round(seconds, 1), "history": history, "test": result,
              "note": "wall-clock, one BLAS thread"}
    log(json.dumps({k: record[k] for k in ("task", "steps", "train_seconds")} | {"greedy": result["greedy"],
                   "beam5": result.get("beam5")}))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=1))


def plot_reverse(paths, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for path in paths:
        rec = json.loads(Path(path).read_text())
        curve = rec["test"]["greedy_exact_by_source_length"]
        lengths = np.array([int(k) for k in curve])
        values = np.array(list(curve.values()))
        label = "attention" if rec["settings"]["attention"] else "context C only"
        ax.plot(lengths, values, marker=".", label=f"{label} (H={rec['settings']['hidden']}, {rec['steps']} steps)")
    ax.set_xlabel("source length (characters)")
    ax.set_ylabel("exact match (greedy)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("task", choices=list(gen.KINDS) + ["plot-reverse"])
    p.add_argument("inputs", nargs="*", help="plot-reverse: the JSON records to plot")
    p.add_argument("--train", type=int, default=50_000)
    p.add_argument("--valid", type=int, default=1000)
    p.add_argument("--test", type=int, default=10_000)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--embedding", type=int, default=None)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--cell", default="lstm")
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--conditioning", default="both")
    p.add_argument("--attention", action="store_true")
    p.add_argument("--reverse-source", action="store_true", help="the encoder reads each source backwards "
                                                                 "(as unroll train --task seq2seq --reverse-source)")
    p.add_argument("--attention-size", type=int, default=None)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--stop-at", type=float, default=1.0)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--beam-eval", type=int, default=1000)
    p.add_argument("--min-len", type=int, default=10)
    p.add_argument("--max-len", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", "--json", dest="out", default=None, help="write the JSON record here")
    args = p.parse_args(argv)
    if args.task == "plot-reverse":
        plot_reverse(args.inputs, args.out)
    else:
        run(args)


if __name__ == "__main__":
    main()
