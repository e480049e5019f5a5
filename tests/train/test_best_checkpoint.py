"""The best checkpoint (RUN_DIR/best/, by the task's own validation metric) and --patience: which steps are
kept, that eval and predict read it by default, that early stopping ends exactly where the counter says,
and that a run stopped between validations and resumed keeps bit for bit the best of an uninterrupted one."""

import json

import numpy as np
import pytest

from unroll.cli import main
from unroll.tasks import get_task
from unroll.runs import run

from tests.tasks.helpers import sentiment_lines

COMMON = ["train", "--task", "classify", "--data", "s.tsv", "--hidden", "8", "--lr", "0.02", "--batch", "8",
          "--eval-every", "5", "--schedule", "constant", "--quiet"]   # a rate that no budget changes


@pytest.fixture()
def data(tmp_path, monkeypatch):
    (tmp_path / "s.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(200)))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def log_of(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def validations(run_dir) -> list[dict]:
    return [r for r in log_of(run_dir) if "valid_accuracy" in r]


def expected_bests(records, patience=None):
    """(steps where a strictly better accuracy is kept, the step where patience stops the run or None)."""
    best, bad, kept = None, 0, []
    for r in records:
        if best is None or r["valid_accuracy"] > best:
            best, bad = r["valid_accuracy"], 0
            kept.append(r["step"])
        else:
            bad += 1
            if patience is not None and bad >= patience:
                return kept, r["step"]
    return kept, None


def eval_loss(capsys, *args) -> float:
    capsys.readouterr()
    assert main(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["loss"]


def test_best_kept_by_accuracy_and_read_by_eval(data, capsys):
    assert main([*COMMON, "--max-steps", "40", "--out", "r"]) == 0
    records = validations(data / "r")
    kept, _ = expected_bests(records)
    assert [r["step"] for r in records if r.get("new_best")] == kept
    best = next(r for r in records if r["step"] == kept[-1])
    assert eval_loss(capsys, "r") == pytest.approx(best["valid_loss"], rel=1e-12)              # default: best
    assert eval_loss(capsys, "r", "--checkpoint", "last") == pytest.approx(records[-1]["valid_loss"], rel=1e-12)
    _, model, info = run.load(data / "r", "best")
    assert info["step"] == kept[-1] and info["checkpoint"] == "best"


def test_patience_stops_where_the_counter_says(data):
    assert main([*COMMON, "--max-steps", "60", "--out", "free"]) == 0
    kept, stop = expected_bests(validations(data / "free"), patience=1)
    assert stop is not None and stop < 60                       # the data make accuracy stall at least once
    assert main([*COMMON, "--max-steps", "60", "--patience", "1", "--out", "early"]) == 0
    early = validations(data / "early")
    assert early[-1]["step"] == stop and "early_stop" in early[-1]
    free = {r["step"]: r["valid_loss"] for r in validations(data / "free")}
    assert all(free[r["step"]] == r["valid_loss"] for r in early)
    # resuming an early-stopped run trains nothing more
    assert main(["train", "--resume", "early", "--max-steps", "90", "--quiet"]) == 0
    assert validations(data / "early")[-1]["step"] == stop


def test_resume_between_validations_keeps_the_same_best(data):
    assert main([*COMMON, "--max-steps", "40", "--patience", "3", "--out", "whole"]) == 0
    assert main([*COMMON, "--max-steps", "12", "--patience", "3", "--out", "split"]) == 0   # validates at 12 too
    assert main(["train", "--resume", "split", "--max-steps", "40", "--quiet"]) == 0
    (_, whole, wi), (_, split, si) = run.load(data / "whole", "best"), run.load(data / "split", "best")
    assert wi["step"] == si["step"]
    for key in whole.params:
        assert np.array_equal(whole.params[key], split.params[key]), key
    flags = lambda d: [(r["step"], r.get("new_best", False)) for r in validations(d) if r["step"] % 5 == 0]  # noqa: E731
    assert flags(data / "whole") == flags(data / "split")


def test_each_task_declares_its_metric():
    tag = get_task("tag")
    assert get_task("classify").monitor(None) == ("accuracy", "max")
    assert get_task("seq2seq").monitor(None) == ("exact_match", "max")
    assert get_task("lm").monitor(None) == ("loss", "min")
    for tags, metric in ((["B", "I"], "boundary_f1"), (["B-PER", "I-PER", "O"], "span_f1"), (["N", "V"], "token_accuracy")):
        task = tag.__new__(tag)
        task.prepared = {"tags": tags}
        assert task.monitor() == (metric, "max")


def test_bad_patience_is_one_line(data, capsys):
    assert main([*COMMON, "--max-steps", "5", "--patience", "0", "--out", "bad"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["unroll: error: patience must be a positive integer, got 0"]
    assert not (data / "bad").exists()
