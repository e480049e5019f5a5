"""Every learning-rate schedule is reachable from the command line: the TrainConfig fields carry
LRSchedule's names and pass through unrenamed, so the logged rate of every step is LRSchedule's."""

import json

import pytest

from unroll.cli import main
from unroll.config import TrainConfig
from unroll.train.schedule import LRSchedule


@pytest.mark.parametrize("flags, expected", [
    (["--schedule", "cosine", "--min-lr", "0.001", "--warmup-steps", "2"],
     LRSchedule(0.01, "cosine", total_steps=6, min_lr=0.001, warmup_steps=2)),
    (["--schedule", "multistep", "--milestones", "2", "4", "--decay-rate", "0.1"],
     LRSchedule(0.01, "multistep", decay_rate=0.1, milestones=(2, 4))),
    (["--lr-decay", "0.5", "--lr-decay-every", "2"],                 # the old flags: exponential
     LRSchedule(0.01, "exponential", decay_rate=0.5, decay_every=2)),
])
def test_each_schedule_from_the_cli_sets_the_rate_of_every_step(flags, expected, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcdefgh " * 200)
    argv = ["train", "--data", str(corpus), "--hidden", "4", "--layers", "1", "--seq-len", "5", "--batch", "2",
            "--lr", "0.01", "--max-steps", "6", "--eval-every", "6", "--quiet", "--out", str(tmp_path / "run"), *flags]
    assert main(argv) == 0
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert [r["lr"] for r in log] == [expected.lr_at(r["step"]) for r in log]
    train = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    stored = LRSchedule.of(TrainConfig(**{**train, "milestones": tuple(train["milestones"])}))
    assert stored.schedule == expected.schedule and [stored.lr_at(s) for s in range(9)] == [
        expected.lr_at(s) for s in range(9)]
