"""The defects a new user hit in their first hour (issue 12, items 1-3, 5, 6), each as it was met."""

import json
from pathlib import Path

import pytest

from unroll import __version__
from unroll.cli import main

TINY = ["--cell", "rnn", "--hidden", "3", "--layers", "1", "--seq-len", "4", "--batch", "1", "--quiet"]


@pytest.fixture()
def hello(tmp_path) -> Path:
    path = tmp_path / "hello.txt"
    path.write_text("hello", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lm")
    (root / "text.txt").write_text("to be or not to be, that is the question. " * 30, encoding="utf-8")
    run = root / "run"
    assert main(["train", "--data", str(root / "text.txt"), "--hidden", "8", "--layers", "1", "--seq-len", "10",
                 "--batch", "4", "--max-steps", "4", "--out", str(run), "--quiet"]) == 0
    return run


def test_a_failed_start_leaves_no_folder_behind(hello, tmp_path, capsys):
    """1. The corpus is too short for the 90/10 split: the error comes before anything is created."""
    out = tmp_path / "X"
    assert main(["train", "--data", str(hello), *TINY, "--max-steps", "30", "--out", str(out)]) == 2
    assert "too short" in capsys.readouterr().err
    assert not out.exists()


def test_the_seeds_hello_example_runs_from_the_cli_with_valid_none(hello, tmp_path, capsys):
    """2. The seeds' example: hidden size 3, "hell" -> "ello", the whole 5-character text for training."""
    out = tmp_path / "H"
    assert main(["train", "--data", str(hello), "--valid", "none", *TINY, "--max-steps", "300", "--lr", "0.05",
                 "--out", str(out)]) == 0
    last = json.loads(capsys.readouterr().out)
    assert last["train_loss"] < 0.25 and "valid_loss" not in last   # 0.18: the default dropout 0.2 is on in training
    assert main(["sample", str(out), "--prime", "h", "--length", "4", "--greedy"]) == 0
    assert capsys.readouterr().out == "hello\n"
    assert main(["eval", str(out)]) == 2                 # it evaluated nothing (issue #21): not a success
    assert "no validation split" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["corpus"]["valid"] == "none"


def test_resume_on_a_finished_run_says_it_reached_its_limit(lm_run, capsys):
    """3. It used to print a record of nulls and exit 0 silently."""
    lines = (lm_run / "metrics.jsonl").read_text().count("\n")
    assert main(["train", "--resume", str(lm_run), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "reached its limit of --max-steps 4 (step 4)" in captured.err
    assert f"--resume {lm_run} --max-steps 8" in captured.err
    assert (lm_run / "metrics.jsonl").read_text().count("\n") == lines


@pytest.mark.parametrize("steps, points", [(30, 30), (300, 100)])
def test_a_short_run_logs_enough_points_to_plot(tmp_path, steps, points):
    """5. A 30-step run logged one point (every 50 steps); now every step, or >= 100 points."""
    text = tmp_path / "t.txt"
    text.write_text("abcdefghij" * 50, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", "--data", str(text), "--hidden", "4", "--layers", "1", "--seq-len", "5", "--batch", "2",
                 "--max-steps", str(steps), "--eval-every", "1000", "--out", str(run), "--quiet"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len([r for r in records if r.get("train_loss") is not None]) == points


def test_sample_and_eval_take_the_config_json_path(lm_run, capsys):
    """6. `sample RUN/config.json` said the folder does not exist."""
    assert main(["sample", str(lm_run / "config.json"), "--length", "5", "--seed", "0"]) == 0
    assert main(["eval", str(lm_run / "config.json")]) == 0
    assert "nats/char" in capsys.readouterr().out
    assert main(["eval", str(lm_run / "metrics.jsonl")]) == 0       # any file of the run folder
    capsys.readouterr()


def test_sample_with_temperature_zero_fails_before_printing(lm_run, capsys):
    """6. It printed the prime, then the error."""
    assert main(["sample", str(lm_run), "--temperature", "0", "--prime", "to be"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "temperature must be positive" in captured.err


def test_sample_on_an_experiment_folder_names_the_task(tmp_path, capsys):
    """6. `sample` on an experiment folder said "config.json has no 'model' section" (then crashed)."""
    run = tmp_path / "exp"
    assert main(["experiment", "adding", "--cell", "rnn", "--T", "5", "--steps", "2", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["sample", str(run)]) == 2
    assert "is a --task longterm run; sample reads language-model runs" in capsys.readouterr().err
    assert main(["eval", str(run)]) == 0


def test_eval_has_batch_and_reads_short_files(lm_run, tmp_path, capsys):
    """6. eval had no --batch and refused a file shorter than the run's batch."""
    short = tmp_path / "short.txt"
    short.write_text("to be", encoding="utf-8")                     # 5 tokens
    shorter = tmp_path / "shorter.txt"
    shorter.write_text("to", encoding="utf-8")
    for path in (short, shorter):
        assert main(["eval", str(lm_run), "--data", str(path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["tokens"] == len(path.read_text())
    assert main(["eval", str(lm_run), "--data", str(short), "--batch", "1", "--json"]) == 0
    one_column = json.loads(capsys.readouterr().out)["loss"]
    assert main(["eval", str(lm_run), "--data", str(short), "--batch", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] != one_column   # the state runs through one or four columns


def test_version(capsys):
    """6. There was no --version."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"unroll {__version__}"
