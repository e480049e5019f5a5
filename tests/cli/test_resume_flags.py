"""`unroll train --resume RUN` with other flags (issue #21): what cannot change is refused in one line naming
the flags; the learning rate, the step and time budgets and the evaluation cadence change, and the change
is recorded in metrics.jsonl, in config.json and in the run's config history."""

import json
import math

import pytest

from unroll.cli import main
from unroll.runs import run


def latest_step(run_dir) -> int:
    return int((run_dir / "latest").read_text().strip().split("-")[1])


@pytest.mark.parametrize("flags,named", [
    (["--hidden", "64"], "--hidden"),
    (["--lr", "0.5", "--data", "/bin/ls"], "--data"),
    (["--task", "classify"], "--task"),
    (["--hidden", "8", "--seed", "3", "--layers", "2"], "--seed, --layers"),   # --hidden 8 is the run's own
    (["--hid", "64"], "--hidden"),                                 # an abbreviation argparse accepts
    (["--out", "elsewhere"], "--out"),
])
def test_resume_refuses_what_cannot_change(tiny_lm_run, flags, named, capsys):
    before = (tiny_lm_run / "config.json").read_text()
    assert main(["train", "--resume", "run", "--max-steps", "6", *flags]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"cannot change on --resume: {named}" in err, err
    assert (tiny_lm_run / "config.json").read_text() == before and latest_step(tiny_lm_run) == 4


def test_resume_changes_lr_budget_and_cadence_and_records_them(tiny_lm_run, capsys):
    assert main(["train", "--resume", "run", "--max-steps", "9", "--lr", "0.01", "--eval-every", "3",
                 "--quiet"]) == 0
    log = [json.loads(line) for line in (tiny_lm_run / "metrics.jsonl").read_text().splitlines()]
    event = next(r for r in log if r.get("event") == "resumed_with_changes")
    assert event["step"] == 4 and event["changes"] == {"lr": [0.002, 0.01], "max_steps": [4, 9], "eval_every": [2, 3],
                                                       "total_steps": [4, 9]}   # the LM's cosine follows the budget
    trained = [r for r in log if r["step"] > 4 and "lr" in r]
    assert trained and all(r["lr"] == 0.01 * 0.5 * (1 + math.cos(math.pi * r["step"] / 9)) for r in trained)
    assert [r["step"] for r in log if "valid_loss" in r and r["step"] > 4] == [6, 9]
    config = run.read_config(tiny_lm_run)
    assert config["train"]["lr"] == 0.01 and config["train"]["max_steps"] == 9 and config["train"]["eval_every"] == 3
    history = [json.loads(line) for line in (tiny_lm_run / "config-history.jsonl").read_text().splitlines()]
    assert history == [{"step": 4, "created": history[0]["created"], "changes": event["changes"]}]
    assert latest_step(tiny_lm_run) == 9


def test_resume_accepts_the_whole_command_again(tiny_lm_run, capsys):
    """Typing the start command again with --resume changes nothing that cannot change: it continues."""
    assert main(["train", "--data", "c.txt", "--hidden", "8", "--layers", "1", "--seq-len", "5", "--batch", "2",
                 "--max-steps", "6", "--eval-every", "2", "--quiet", "--resume", "run", "--task", "lm"]) == 0
    assert latest_step(tiny_lm_run) == 6
