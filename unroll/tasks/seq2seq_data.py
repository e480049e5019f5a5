"""seq2seq's data: its token sources (the ``PairSources`` input part) and `unroll data addition|dates|numbers|reverse`.

A token seq2seq run reads ``source<TAB>target`` lines (``unroll.data.pairs``); its source side is one
input part of ``tasks/inputs.py``, like TokenInputs but with the pair vocabulary (``src_vocab``, which knows
<bos>/<eos> and refuses unknown tokens) and the held-out part the last ``--valid-fraction`` of the lines.
Its targets, on both input kinds, are the task's (``tgt_vocab``).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np

from unroll.command import Command
from unroll.data import pairs as P
from unroll.data.pair_generators import KINDS as PAIR_KINDS
from unroll.data.vocab import UnknownToken
from unroll.tasks.inputs import InputPart
from unroll.tasks.vectors import warn_if_numeric

LENGTH_ALLOWANCE = 10      # sources up to 10 x the longest training one, as classify and tag allow


class PairSources(InputPart):
    """The sources of source<TAB>target lines -> ids of ``src_vocab`` (an unknown token: UnknownToken)."""

    kind, unit = "tokens", "line"

    def read_file(self, path, flag=None):
        if path is None:
            raise ValueError("the seq2seq task needs --data, a TSV file of source<TAB>target pairs")
        return P.read_pairs(path, self.cfg.encoding, flag)

    def split(self, n: int):
        """The held-out share is the last lines of --data (all of it trains when --valid is given)."""
        if self.cfg.valid is not None:
            return np.arange(n), None
        n_valid = max(1, int(round(n * self.cfg.valid_fraction)))
        if n_valid >= n:
            raise ValueError(f"{self.cfg.data} holds {n} pairs: too few to hold out a validation share")
        return np.arange(n - n_valid), np.arange(n - n_valid, n)

    @staticmethod
    def keyed(rows, keep):
        return [int(i) + 1 for i in keep], [rows[i][0] for i in keep], [rows[i][1] for i in keep]

    def where(self, source: str, key) -> str:
        return f"{source} line {key}"

    def prepare(self, train) -> dict:
        warn_if_numeric(self.cfg.data, self.task.name)
        level = self.cfg.level
        return {"src_vocab": P.PairVocab.build(train.items, level).to_json(),
                "max_source": max(len(P.tokens_of(s, level)) for s in train.items)}

    @property
    def vocab(self) -> P.PairVocab:
        return P.PairVocab.from_json(self.prepared["src_vocab"])

    def data_files(self) -> list:
        return [p for p in (self.cfg.data, self.cfg.valid) if p]

    def encode(self, items) -> list[np.ndarray]:
        src = self.vocab
        return [src.encode(s) for s in items]

    def encode_one(self, line: str, where: str, limit: int | None = None, check: bool = True) -> np.ndarray:
        """One source line -> ids; a one-line error starting with ``where`` (the file and line).

        limit: the longest source accepted (default: --max-source-len, else 10 x the longest training source)
        """
        if check and not line.strip():
            raise ValueError(f"{where}: the source is empty")
        try:
            ids = self.encode([line])[0]
        except UnknownToken as err:
            raise UnknownToken(f"{where}: {err}") from None
        longest = limit or self.cfg.max_source_len or LENGTH_ALLOWANCE * self.prepared["max_source"]
        if check and len(ids) > longest:
            raise ValueError(f"{where}: the source has {len(ids)} tokens, more than the {longest} accepted (the "
                             f"longest training source has {self.prepared['max_source']}; --max-source-len N "
                             "accepts longer ones)")
        return ids

    def model_input(self, hidden: int):
        return len(self.vocab), None

    def read_for_predict(self, path, limit: int | None = None):
        return None                                  # the CLI reads the file's lines and calls task.predict


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


COMMANDS = tuple(
    Command(kind, f"a reproducible set of source<TAB>target pairs: {kind}", partial(_pair_options, kind), cmd_data,
            "Generate pairs (a seed fixes them): addition, dates, numbers, reverse.", kind="data")
    for kind in PAIR_KINDS)
