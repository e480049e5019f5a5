"""Training-loop items of issue #21: a --max-time run logs often enough to plot, an interrupted run exits
128 + the signal, --dtype float64 from the command line, and run.load keeps a checkpoint's precision."""

import json
import signal

import numpy as np
import pytest

from unroll.cli import main
from unroll.runs import run
from unroll.train import trainer as trainer_module
from unroll.train.trainer import Trainer

TINY = ["train", "--hidden", "8", "--layers", "1", "--seq-len", "5", "--batch", "2", "--quiet"]


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("hello world, a tiny text to learn from. " * 40)
    return str(path)


def test_a_short_max_time_run_logs_enough_lines_to_plot(corpus, tmp_path, monkeypatch):
    class Clock:                              # the trainer's clock only: each reading is 0.05 s later
        now = 0.0

        def perf_counter(self):
            self.now += 0.05
            return self.now

    monkeypatch.setattr(trainer_module, "time", Clock())
    assert main([*TINY, "--data", corpus, "--max-time", "20", "--eval-every", "100000", "--out",
                 str(tmp_path / "r")]) == 0
    log = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    steps = log[-1]["step"]
    assert steps < 50 * 4                     # the step rule alone (every 50 steps) would give <= 4 lines
    assert len([r for r in log if r.get("train_loss") is not None]) >= 20          # one a second at least


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_exits_128_plus_the_signal_after_its_checkpoint(corpus, tmp_path, monkeypatch, signum, code):
    real, calls = Trainer._train_step, {"n": 0}

    def step(self):
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(signum)
        return real(self)

    monkeypatch.setattr(Trainer, "_train_step", step)
    assert main([*TINY, "--data", corpus, "--max-steps", "10", "--out", str(tmp_path / "r")]) == code
    assert (tmp_path / "r" / "latest").read_text().strip() == "step-00000003"


def test_dtype_float64_from_the_command_line_and_load_keeps_it(corpus, tmp_path):
    assert main([*TINY, "--data", corpus, "--max-steps", "2", "--dtype", "float64", "--out", str(tmp_path / "d")]) == 0
    _, model, _ = run.load(tmp_path / "d")
    assert {v.dtype for v in model.params.values()} == {np.dtype(np.float64)}
    assert main([*TINY, "--data", corpus, "--max-steps", "2", "--out", str(tmp_path / "s")]) == 0
    _, model, _ = run.load(tmp_path / "s")
    assert {v.dtype for v in model.params.values()} == {np.dtype(np.float32)}


def test_load_keeps_the_precision_of_a_checkpoint_written_in_float64(corpus, tmp_path, monkeypatch):
    """A float64 checkpoint whose config.json names no dtype (written through the API) is not cast to float32."""
    from unroll.tasks.lm import LanguageModelTask
    build = LanguageModelTask.build_model
    monkeypatch.setattr(LanguageModelTask, "build_model", lambda self, seed, dtype=None: build(self, seed, np.float64))
    assert main([*TINY, "--data", corpus, "--max-steps", "2", "--out", str(tmp_path / "r")]) == 0
    monkeypatch.setattr(LanguageModelTask, "build_model", build)
    assert run.read_config(tmp_path / "r")["train"]["dtype"] is None
    _, model, _ = run.load(tmp_path / "r")
    assert {v.dtype for v in model.params.values()} == {np.dtype(np.float64)}


def test_off_a_terminal_slow_steps_still_print_a_line_every_30_seconds():
    import io
    from unroll.train.progress import Progress
    stream = io.StringIO()                    # not a terminal
    progress = Progress(stream=stream)
    for step in range(1, 11):                 # one step every 10 s of training, each logged
        progress.update(step, 100, 10.0 * step, None, {"step": step, "train_loss": 1.0})
    assert [line.split(" | ")[0] for line in stream.getvalue().splitlines()] == ["step 3/100", "step 6/100",
                                                                                   "step 9/100"]


def test_the_cell_choices_of_every_task_are_shown_and_checked(corpus, capsys):
    assert main(["train", "--task", "classify", "--data", corpus, "--cell", "transformer"]) == 2
    assert "argument --cell: invalid choice: 'transformer' (choose from 'rnn', 'lstm', 'gru'" in capsys.readouterr().err
