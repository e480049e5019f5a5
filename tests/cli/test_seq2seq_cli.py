"""seq2seq end to end through the CLI in temporary folders: generate -> train briefly -> predict -> eval,
bit-identical resume, and the one-line errors users meet (each naming the line)."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from unroll.cli import main

SMALL = ["--task", "seq2seq", "--hidden", "24", "--batch", "16", "--lr", "0.01", "--quiet"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    assert main(["data", "reverse", "--n", "400", "--test", "50", "--min-len", "2", "--max-len", "5",
                 "--seed", "3", "--out", str(folder / "train.tsv"), "--test-out", str(folder / "test.tsv")]) == 0
    return folder


def weights(run):
    return load_file(str(run / "checkpoints" / (run / "latest").read_text().strip() / "model.safetensors"))


def test_generate_train_predict_eval(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--attention", "--data", str(data / "train.tsv"), "--max-steps", "300",
                 "--eval-every", "150", "--out", str(run)]) == 0
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in log if "valid_loss" in r]
    assert [r["step"] for r in valid] == [150, 300] and valid[-1]["valid_exact_match"] >= 0.5
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(data / "test.tsv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 50 and result["exact_match"] >= 0.5 and 0 <= result["char_error_rate"] < 0.5
    sources = [line.split("\t") for line in (data / "test.tsv").read_text().splitlines()[:5]]
    (tmp_path / "in.txt").write_text("".join(s + "\n" for s, _ in sources))
    plot = tmp_path / "att.png"
    assert main(["predict", str(run), str(tmp_path / "in.txt"), "--beam", "3", "--attention-plot", str(plot)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 and sum(o == t for o, (_, t) in zip(out, sources)) >= 3
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_resume_is_bit_identical(data, tmp_path):
    options = [*SMALL, "--data", str(data / "train.tsv"), "--eval-every", "5", "--scheduled-sampling", "20",
               "--bidirectional", "--layers", "2", "--dropout", "0.2"]
    assert main(["train", *options, "--max-steps", "12", "--out", str(tmp_path / "whole")]) == 0
    assert main(["train", *options, "--max-steps", "7", "--out", str(tmp_path / "split")]) == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--max-steps", "12", "--quiet"]) == 0
    whole, split = weights(tmp_path / "whole"), weights(tmp_path / "split")
    assert whole.keys() == split.keys()
    for key in whole:
        assert np.array_equal(whole[key], split[key]), key


@pytest.mark.parametrize("lines,message", [
    ("ab\n\nba\n", "input line 2: the source is empty"),
    ("ab" * 26 + "\n", "input line 1: the source has 52 tokens, more than the 50 accepted (the longest training "
                       "source has 5; --max-source-len N accepts longer ones)"),
])
def test_predict_errors_are_one_line_naming_the_line(data, tmp_path, capsys, lines, message):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--data", str(data / "train.tsv"), "--max-steps", "2", "--out", str(run)]) == 0
    (tmp_path / "in.txt").write_text(lines)
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "in.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_tsv_line_without_a_tab(tmp_path, capsys):
    (tmp_path / "bad.tsv").write_text("ab\tba\ncd dc\n")
    assert main(["train", *SMALL, "--data", str(tmp_path / "bad.tsv"), "--max-steps", "2",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.tsv:2: no tab between source and target" in err
