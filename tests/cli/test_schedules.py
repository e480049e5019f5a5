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


class _Clock:
    """time for the trainer alone: perf_counter advances 0.25 s per call, so elapsed is exact in the log."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 0.25
        return self.now


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_a_decay_over_max_time_follows_the_time_used_and_ends_at_min_lr(kind, tmp_path, monkeypatch):
    from unroll.train import trainer
    monkeypatch.setattr(trainer, "time", _Clock())
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcdefgh " * 200)
    argv = ["train", "--data", str(corpus), "--hidden", "4", "--layers", "1", "--seq-len", "5", "--batch", "2",
            "--lr", "0.01", "--min-lr", "0.001", "--schedule", kind, "--max-time", "6", "--log-every", "1",
            "--eval-every", "1000", "--quiet", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    train = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert (train["schedule"], train["total_steps"], train["max_time"]) == (kind, 0, 6.0)
    expected = LRSchedule(0.01, kind, min_lr=0.001, max_time=6.0)
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(log) > 3 and [r["lr"] for r in log] == [expected.lr_at(r["step"], r["elapsed"]) for r in log]
    assert log[-1]["elapsed"] >= 5.5 and log[-1]["lr"] < 0.0016            # near the deadline, near min_lr ...
    assert expected.lr_at(log[-1]["step"], 6.0) == 0.001                     # ... which it is at the deadline
    steps = [r for r in log if "valid_loss" not in r]                       # the final validation repeats a step
    assert all(a["lr"] > b["lr"] for a, b in zip(steps, steps[1:]))


def test_a_cosine_schedule_without_max_steps_decays_over_the_default_time_budget():
    config = TrainConfig(schedule="cosine")
    schedule = LRSchedule.of(config)
    assert (config.total_steps, config.max_time) == (0, 600.0)
    assert schedule.lr_at(10, 300.0) == pytest.approx(config.lr / 2) and schedule.lr_at(10, 600.0) == 0.0
