"""The defaults the first language-model study chose (issue #30, docs/tune.md): with no schedule named, the
language model decays its rate by cosine to the end of its budget (the last step of --max-steps, else the
--max-time deadline) with dropout 0.2 (classify and tag decay the same way since their studies, with their own dropouts:
tests/tasks/test_classify_defaults.py, test_tag_defaults.py); --lr-decay alone still means exponential,
--schedule constant keeps the rate fixed, the other tasks (seq2seq, generate, forecast) keep a constant rate;
a schedule flag the schedule would not read is refused in one line naming it; a resumed run continues its
decay bit for bit, on steps and on time; and a run folder written before (format 2, the old defaults)
resumes as it ran: constant rate, no dropout."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from unroll.cli import main
from unroll.config import TrainConfig, defaults_of
from unroll.runs import RunFolder
from unroll.tasks import get_task
from unroll.train import trainer as trainer_module
from unroll.train.schedule import LRSchedule

from tests import saved

FORMAT2 = Path(__file__).resolve().parents[1] / "fixtures" / "format2-lm"
SMALL = ["--hidden", "4", "--layers", "1", "--seq-len", "5", "--batch", "2", "--lr", "0.01", "--quiet"]


@pytest.fixture()
def corpus(tmp_path) -> Path:
    path = tmp_path / "c.txt"
    path.write_text("abcdefgh " * 200)
    return path


def train(corpus, out, *flags) -> int:
    return main(["train", "--data", str(corpus), *SMALL, "--out", str(out), *flags])


def log(run_dir) -> list[dict]:
    return [r for r in saved.log(run_dir) if "lr" in r]


def assert_same_weights(one, two) -> None:
    a, b = (saved.tensors(saved.checkpoint_dir(r) / "model.safetensors") for r in (one, two))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def stored(run_dir) -> dict:
    return json.loads((Path(run_dir) / "config.json").read_text())


def test_the_language_model_decays_by_cosine_to_its_last_step_with_dropout_by_default(corpus, tmp_path):
    assert train(corpus, tmp_path / "run", "--max-steps", "6", "--log-every", "1", "--eval-every", "6") == 0
    config = stored(tmp_path / "run")
    assert (config["train"]["schedule"], config["train"]["total_steps"]) == ("cosine", 6)
    assert config["network"]["dropout"] == 0.2
    lrs = [r["lr"] for r in log(tmp_path / "run") if "valid_loss" not in r]
    assert lrs == [0.01 * 0.5 * (1 + math.cos(math.pi * s / 6)) for s in range(1, 6)]


@pytest.mark.parametrize("task, deadline", [("lm", 60.0), ("classify", 300.0), ("tag", 300.0)])
def test_the_cosine_tasks_decay_to_the_deadline_under_max_time(task, deadline):
    """The tasks whose studies chose cosine (docs/tune.md): under --max-time alone the decay follows the
    share of the time used, half the rate at half the deadline, none at the deadline."""
    train = TrainConfig(**defaults_of(TrainConfig, {**get_task(task).train_defaults, "max_time": deadline}))
    assert (train.schedule, train.total_steps, train.max_time) == ("cosine", 0, deadline)
    schedule = LRSchedule.of(train)
    assert schedule.lr_at(1000, deadline / 2) == pytest.approx(train.lr / 2) and schedule.lr_at(1000, deadline) == 0.0


@pytest.mark.parametrize("given, kind", [({"decay_rate": 0.5}, "exponential"),               # --lr-decay alone
                                         ({"decay_rate": 0.1, "milestones": (3,)}, "multistep"),
                                         ({"schedule": "constant"}, "constant"),
                                         ({"schedule": "linear"}, "linear")])
def test_a_named_schedule_or_lr_decay_wins_over_the_task_default(given, kind):
    assert TrainConfig(**defaults_of(TrainConfig, {**get_task("lm").train_defaults, **given})).schedule == kind


@pytest.mark.parametrize("task", ["seq2seq", "generate", "forecast"])
def test_the_other_tasks_keep_a_constant_rate(task):
    assert TrainConfig(**defaults_of(TrainConfig, get_task(task).train_defaults)).schedule == "constant"


@pytest.mark.parametrize("flags, message", [
    (["--schedule", "cosine", "--lr-decay", "0.5"], "--decay-rate/--lr-decay 0.5 acts only with --schedule "
     "exponential or multistep, not with --schedule cosine: leave it out, or name a schedule that reads it"),
    (["--schedule", "constant", "--milestones", "3"], "--milestones 3 acts only with --schedule multistep, not "
     "with --schedule constant: leave it out, or name a schedule that reads it"),
    (["--lr-decay", "0.5", "--min-lr", "0.001"], "--min-lr 0.001 acts only with --schedule cosine or linear, not "
     "with --schedule exponential (the default here): leave it out, or name a schedule that reads it"),
    (["--schedule", "multistep"], "--schedule multistep needs --milestones"),
])
def test_a_schedule_flag_the_schedule_would_not_read_is_refused_in_one_line(corpus, tmp_path, capsys, flags, message):
    assert train(corpus, tmp_path / "run", "--max-steps", "2", *flags) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("unroll: error:") and "\n" not in err and message in err, err
    assert not (tmp_path / "run").exists()


def test_a_resumed_step_budget_decay_ends_bit_identical_to_one_run(corpus, tmp_path):
    """--total-steps 6 --max-steps 3, resumed to --max-steps 6: an explicit decay length is kept, so the two
    halves train on the rates of the one run of 6 steps and end with its parameters."""
    assert train(corpus, tmp_path / "one", "--max-steps", "6", "--eval-every", "3") == 0
    assert train(corpus, tmp_path / "two", "--max-steps", "3", "--total-steps", "6", "--eval-every", "3") == 0
    assert main(["train", "--resume", str(tmp_path / "two"), "--max-steps", "6", "--quiet"]) == 0
    assert [r["lr"] for r in log(tmp_path / "two")] == [r["lr"] for r in log(tmp_path / "one")]
    assert_same_weights(tmp_path / "one", tmp_path / "two")


def test_a_new_budget_on_resume_moves_a_derived_decay_to_the_new_end(corpus, tmp_path):
    assert train(corpus, tmp_path / "run", "--max-steps", "4", "--eval-every", "2") == 0
    assert main(["train", "--resume", str(tmp_path / "run"), "--max-steps", "8", "--quiet"]) == 0
    config = stored(tmp_path / "run")["train"]
    assert (config["total_steps"], config["max_steps"]) == (8, 8)
    after = [r for r in log(tmp_path / "run") if r["step"] > 4]
    assert after and [r["lr"] for r in after] == [0.01 * 0.5 * (1 + math.cos(math.pi * r["step"] / 8)) for r in after]
    history = [json.loads(line) for line in (tmp_path / "run" / "config-history.jsonl").read_text().splitlines()]
    assert history[0]["changes"]["total_steps"] == [4, 8]


class StepClock:
    """perf_counter = 0.5 s per step the running trainer has made: the time a run has used is a function
    of its step, in one process or across a resume, so a run on the time budget is reproducible."""

    def __init__(self):
        self.counters = None

    def perf_counter(self):
        return 0.5 * (self.counters["step"] if self.counters else 0)


def test_a_resumed_time_budget_decay_keeps_the_time_used_and_ends_bit_identical(corpus, tmp_path, monkeypatch):
    clock, stop_at = StepClock(), {"step": None}
    loop, step = trainer_module.Trainer._loop, trainer_module.Trainer._train_step

    def timed_loop(self):
        clock.counters = self.counters
        return loop(self)

    def stopping_step(self):
        out = step(self)
        if self.counters["step"] == stop_at["step"]:
            self.stop_requested = True                       # as Ctrl-C does: stop after this step
        return out

    monkeypatch.setattr(trainer_module, "time", clock)
    monkeypatch.setattr(trainer_module.Trainer, "_loop", timed_loop)
    monkeypatch.setattr(trainer_module.Trainer, "_train_step", stopping_step)
    flags = ["--max-time", "4", "--eval-every", "100", "--log-every", "1"]
    assert train(corpus, tmp_path / "one", *flags) == 0
    stop_at["step"] = 3
    assert train(corpus, tmp_path / "two", *flags) == 0
    assert max(r["step"] for r in log(tmp_path / "two")) == 3
    stop_at["step"] = None
    assert main(["train", "--resume", str(tmp_path / "two"), "--quiet"]) == 0
    one, two = log(tmp_path / "one"), log(tmp_path / "two")
    expected = LRSchedule(0.01, "cosine", max_time=4.0)
    assert max(r["step"] for r in one) == max(r["step"] for r in two) == 8      # the deadline: 4 s, 0.5 s a step
    steps = {r["step"]: r["lr"] for r in two}
    assert steps == {r["step"]: r["lr"] for r in one} == {s: expected.lr_at(s, 0.5 * s) for s in steps}
    assert_same_weights(tmp_path / "one", tmp_path / "two")


def test_a_format_2_folder_with_the_old_defaults_resumes_at_a_constant_rate_without_dropout(tmp_path):
    """tests/fixtures/format2-lm with its lr_decay set back to 1 (the old default) is a run of the old
    defaults: its config.json names no schedule and stores dropout 0; it resumes as it ran."""
    folder = Path(shutil.copytree(FORMAT2, tmp_path / "run"))
    config = json.loads((folder / "config.json").read_text())
    config["train"].update(lr_decay=1.0)
    (folder / "config.json").write_text(json.dumps(config))
    info = RunFolder(folder).read_config()
    assert info["train"]["schedule"] == "constant" and info["network"]["dropout"] == 0.0
    assert main(["train", "--resume", str(folder), "--max-steps", "4", "--quiet"]) == 0
    resumed = [r for r in log(folder) if r["step"] > 2]
    assert resumed and all(r["lr"] == 0.01 for r in resumed)
    assert stored(folder)["train"]["schedule"] == "constant"


def test_the_schedule_help_states_the_rule(capsys):
    main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "cosine from --lr to --min-lr over the budget" in text and "--schedule constant keeps the rate" in text
