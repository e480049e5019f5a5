"""`--reverse-source` at prediction (issue 29): a seq2seq model trained with it reads every source
backwards at `predict` and `eval` too.

1. Tokens, by behaviour: a model trained to reverse strings of a, b, c, d with --reverse-source (so its
   encoder sees the target's order) translates fixed sources into their reversals at predict and eval;
   a predict that forgot to reverse would feed it the source as is.
2. Tokens and vectors, by a second path: a run with --reverse-source on the data equals, loss for loss and
   line for line, a run without it on the same data whose sources this test reversed by hand.
   Vector seq2seq applies it since issue 28 (it used to drop the flag without a word)."""

import itertools
import json

import numpy as np
import pytest

from unroll.cli import main

SOURCES = ["".join(p) for n in (2, 3) for p in itertools.product("abcd", repeat=n)]
FIXED = ["abc", "dab", "cdd", "bdc", "ab", "dcb"]     # lengths seen in training (a longer one is luck)


def run_cli(capsys, *argv) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_a_model_trained_with_reversed_sources_translates_correctly(tmp_path, capsys):
    (tmp_path / "rv.tsv").write_text("".join(f"{s}\t{s[::-1]}\n" for s in SOURCES * 3))
    (tmp_path / "fixed.tsv").write_text("".join(f"{s}\t{s[::-1]}\n" for s in FIXED))
    (tmp_path / "fixed.txt").write_text("".join(f"{s}\n" for s in FIXED))
    run = tmp_path / "run"
    run_cli(capsys, "train", "--task", "seq2seq", "--data", str(tmp_path / "rv.tsv"), "--valid",
            str(tmp_path / "rv.tsv"), "--reverse-source", "--hidden", "24", "--batch", "16", "--lr", "0.02",
            "--max-steps", "200", "--eval-every", "100", "--quiet", "--out", str(run))
    assert run_cli(capsys, "predict", str(run), str(tmp_path / "fixed.txt")).splitlines() == [s[::-1] for s in FIXED]
    result = json.loads(run_cli(capsys, "eval", str(run), "--data", str(tmp_path / "fixed.tsv"), "--json"))
    assert result["exact_match"] == 1.0 and result["pairs"] == len(FIXED)


def logged(run_dir) -> list[dict]:
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("run", "elapsed", "tokens_per_s")} for r in log if "step" in r]


def check_second_path(capsys, tmp_path, train, reversed_train, infile, reversed_infile, flags):
    common = ["train", "--task", "seq2seq", *flags, "--max-steps", "6", "--eval-every", "3", "--quiet"]
    run_cli(capsys, *common, "--reverse-source", "--data", str(train), "--out", str(tmp_path / "rev"))
    run_cli(capsys, *common, "--no-reverse-source", "--data", str(reversed_train), "--out", str(tmp_path / "byhand"))
    assert logged(tmp_path / "rev") == logged(tmp_path / "byhand")
    evals = [run_cli(capsys, "eval", str(tmp_path / r), "--data", str(f), "--checkpoint", "last", "--json")
             for r, f in (("rev", train), ("byhand", reversed_train))]
    assert json.loads(evals[0]) == json.loads(evals[1])
    assert (run_cli(capsys, "predict", str(tmp_path / "rev"), str(infile), "--checkpoint", "last")
            == run_cli(capsys, "predict", str(tmp_path / "byhand"), str(reversed_infile), "--checkpoint", "last"))


def test_tokens_reversed_by_the_flag_equal_tokens_reversed_by_hand(tmp_path, capsys):
    pairs = [(s, s[0] + s[-1]) for s in SOURCES]
    (tmp_path / "p.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs))
    (tmp_path / "p_rev.tsv").write_text("".join(f"{s[::-1]}\t{t}\n" for s, t in pairs))
    (tmp_path / "in.txt").write_text("".join(f"{s}\n" for s in FIXED))
    (tmp_path / "in_rev.txt").write_text("".join(f"{s[::-1]}\n" for s in FIXED))
    check_second_path(capsys, tmp_path, tmp_path / "p.tsv", tmp_path / "p_rev.tsv", tmp_path / "in.txt",
                      tmp_path / "in_rev.txt", ["--hidden", "6", "--batch", "8", "--attention"])


def vector_rows(seed: int, n: int, reverse: bool, labelled: bool = True) -> str:
    """A long CSV of n sequences (3 to 5 steps of 2 features; target: the signs of f1, as words)."""
    rng = np.random.default_rng(seed)
    rows = ["id,time,f1,f2" + (",label" if labelled else "")]
    for i in range(n):
        x = np.round(rng.normal(0, 1, (3 + i % 3, 2)), 4)
        text = " ".join("p" if v > 0 else "m" for v in x[:2, 0])
        steps = x[::-1] if reverse else x
        rows += [f"q{i},{t},{a},{b}" + (f",{text}" if labelled else "") for t, (a, b) in enumerate(steps.tolist())]
    return "\n".join(rows) + "\n"


def test_vectors_reversed_by_the_flag_equal_vectors_reversed_by_hand(tmp_path, capsys):
    (tmp_path / "v.csv").write_text(vector_rows(0, 30, False))
    (tmp_path / "v_rev.csv").write_text(vector_rows(0, 30, True))
    (tmp_path / "in.csv").write_text(vector_rows(1, 6, False, labelled=False))
    (tmp_path / "in_rev.csv").write_text(vector_rows(1, 6, True, labelled=False))
    check_second_path(capsys, tmp_path, tmp_path / "v.csv", tmp_path / "v_rev.csv", tmp_path / "in.csv",
                      tmp_path / "in_rev.csv", ["--hidden", "6", "--batch", "8", "--attention"])
