"""The command line: ``unroll <command>`` (or ``python -m unroll <command>``).

Thin wrappers: each subcommand parses its options, calls the library, and turns a ValueError into a
one-line ``unroll: error: ...`` message with exit status 2 (no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from unroll.config import CELLS, LEVELS, OPTIMIZERS, TOKENIZERS, TrainConfig

DEFAULT_MAX_TIME = 600.0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except ValueError as err:
        print(f"unroll: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # `unroll sample ... | head`
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unroll", description="Recurrent neural networks from first principles.")
    sub = parser.add_subparsers(metavar="command")
    _add_train(sub)
    _add_sample(sub)
    _add_eval(sub)
    _add_plot(sub)
    _add_gradcheck(sub)
    _add_registered_commands(sub)
    from unroll.analysis import commands as analysis_commands   # visualize, inspect --gates, data (#13)
    analysis_commands.add_parsers(sub)
    return parser


def _add_registered_commands(sub) -> None:
    """Commands whose modules register their own parsers (experiment, diagnose, bench)."""
    from unroll import bench, experiments
    experiments.add_experiment_parser(sub)
    experiments.add_diagnose_parser(sub)
    bench.add_parser(sub)


# ----------------------------------------------------------------------------------------------------
# train

def _add_train(sub) -> None:
    d = TrainConfig()
    p = sub.add_parser("train", help="train a character- or word-level language model",
                       description="Train a language model. With no options: a 2-layer LSTM on the bundled tiny "
                                   f"Shakespeare for {DEFAULT_MAX_TIME:.0f} seconds.")
    p.add_argument("--data", help="UTF-8 text file to train on (default: bundled tiny Shakespeare)")
    p.add_argument("--valid", help="separate validation file (default: the last --valid-fraction of --data)")
    p.add_argument("--valid-fraction", type=float, default=d.valid_fraction)
    p.add_argument("--level", choices=LEVELS, default=d.level)
    p.add_argument("--min-count", type=int, default=d.min_count, help="word level: rarer words become <unk>")
    p.add_argument("--tokenizer", choices=TOKENIZERS, default=d.tokenizer,
                   help="word level: punct (words and punctuation marks), space (pre-tokenized text such as "
                        "Penn Treebank), exact (white space kept as tokens)")
    p.add_argument("--cell", choices=CELLS, default="lstm")
    p.add_argument("--activation", choices=("tanh", "relu"), default="tanh", help="for --cell rnn")
    p.add_argument("--hidden", type=int, default=256, help="units per layer")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--embedding", type=int, default=None, help="embedding width (default: --hidden)")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--init-scale", type=float, default=None,
                   help="draw every weight from uniform(-s, s) (default: PyTorch's initialisation)")
    p.add_argument("--seq-len", type=int, default=d.seq_len, help="k1: steps per batch")
    p.add_argument("--bptt", type=int, default=None, help="k2 >= k1: steps backpropagated (default k1)")
    p.add_argument("--batch", type=int, default=d.batch_size)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lr-decay", type=float, default=d.lr_decay)
    p.add_argument("--lr-decay-every", type=int, default=d.lr_decay_every)
    p.add_argument("--lr-decay-start", type=int, default=d.lr_decay_start)
    p.add_argument("--clip", type=float, default=d.clip, help="clip the global gradient norm (0: off)")
    p.add_argument("--clip-value", type=float, default=d.clip_value, help="clip each gradient element (0: off)")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--max-time", type=float, default=None,
                   help=f"seconds (default {DEFAULT_MAX_TIME:.0f} when --max-steps is not given either)")
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", type=Path, help="run folder (default runs/<time>-<cell>)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from unroll.train import run
    from unroll.train.trainer import TrainingDiverged
    if args.resume is not None:
        trainer = run.resume(args.resume, args.max_steps, args.max_time, quiet=args.quiet)
    else:
        max_time = args.max_time if (args.max_time is not None or args.max_steps is not None) else DEFAULT_MAX_TIME
        config = TrainConfig(
            data=args.data, level=args.level, min_count=args.min_count, tokenizer=args.tokenizer, valid_fraction=args.valid_fraction,
            seq_len=args.seq_len, bptt=args.bptt, batch_size=args.batch, optimizer=args.optimizer, lr=args.lr,
            lr_decay=args.lr_decay, lr_decay_every=args.lr_decay_every, lr_decay_start=args.lr_decay_start,
            clip=args.clip, clip_value=args.clip_value, max_steps=args.max_steps, max_time=max_time,
            eval_every=args.eval_every, seed=args.seed)
        model = dict(hidden_size=args.hidden, num_layers=args.layers, cell=args.cell, embedding_size=args.embedding,
                     dropout=args.dropout, activation=args.activation, init_scale=args.init_scale)
        out = args.out or run.default_out_dir(args.cell)
        trainer = run.start(out, model, config, args.valid, quiet=args.quiet)
        print(f"run folder: {out}", file=sys.stderr)
    try:
        record = trainer.train()
    except TrainingDiverged as err:
        print(f"unroll: error: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"run": str(trainer.run_dir), **record}))
    return 0


# ----------------------------------------------------------------------------------------------------
# sample, eval, plot

def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="generate text from a trained run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--length", type=int, default=1000, help="tokens to generate")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--prime", default=None, help="text to start from (default: a newline, or the first token)")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=cmd_sample)


def cmd_sample(args) -> int:
    from unroll.train import run
    model, vocab, _ = run.load(args.run_dir)
    prime = args.prime if args.prime is not None else ("\n" if "\n" in vocab else vocab.tokens[0])
    prime_ids = vocab.encode(prime)
    if len(prime_ids) == 0:
        raise ValueError("--prime must hold at least one token")
    out = sys.stdout
    out.write(prime)
    previous = int(prime_ids[-1])
    for token in model.generate(prime_ids, args.length, args.temperature, args.top_k, args.greedy, args.seed):
        out.write(text_piece(vocab, previous, token))
        out.flush()
        previous = token
    out.write("\n")
    return 0


def text_piece(vocab, previous: int, token: int) -> str:
    """The text that ``token`` adds after ``previous`` (word vocabularies decide spacing from both)."""
    return vocab.decode([previous, token])[len(vocab.decode([previous])):]


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="validation (or --data) loss of a run's latest checkpoint")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--data", help="evaluate on this file instead of the run's validation split")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    import math
    from unroll.config import from_dict
    from unroll.data import text as text_data
    from unroll.train import run
    from unroll.train.trainer import evaluate_stream
    model, vocab, info = run.load(args.run_dir)
    config = from_dict(TrainConfig, info["train"])
    if args.data:
        ids = vocab.encode(text_data.read_text(args.data))
    else:
        text, _ = run.read_corpus(config.data)
        valid_text = text_data.read_text(info["data"]["valid"]) if info["data"].get("valid") else None
        ids = run.encode_splits(config, vocab, text, valid_text)[1]
    nats = evaluate_stream(model, ids, config.batch_size, config.seq_len)
    result = {"step": info["step"], "loss": nats, "tokens": int(ids.size), "level": config.level}
    if config.level == "char":
        result["bits_per_char"] = nats / math.log(2)
        line = f"{nats:.4f} nats/char, {result['bits_per_char']:.4f} bits/char"
    else:
        result["perplexity"] = math.exp(nats)
        line = f"{nats:.4f} nats/word, perplexity {result['perplexity']:.2f}"
    print(json.dumps(result) if args.json else f"{line} ({ids.size} tokens, step {info['step']})")
    return 0


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="PNG of a run's training and validation curves")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, default=None, help="PNG path (default RUN_DIR/curves.png)")
    p.set_defaults(func=cmd_plot)


def cmd_plot(args) -> int:
    from unroll.analysis.plots import plot_metrics
    out = plot_metrics(args.run_dir, args.out)
    print(out)
    return 0


# ----------------------------------------------------------------------------------------------------
# gradcheck

def _add_gradcheck(sub) -> None:
    p = sub.add_parser("gradcheck", help="float64 finite-difference check of every cell's backward pass")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_gradcheck)


def cmd_gradcheck(args) -> int:
    from unroll.nn.gradcheck import report
    rows = report(args.seed)
    print(f"{'case':<28} {'tensor':<22} {'relative error':>15}")
    worst = 0.0
    for case, tensor, error in rows:
        worst = max(worst, error)
        print(f"{case:<28} {tensor:<22} {error:>15.2e}")
    verdict = "PASS" if worst < 1e-7 else "FAIL"
    print(f"worst relative error {worst:.2e} (threshold 1e-7): {verdict}")
    return 0 if verdict == "PASS" else 1

