"""The trainer's guards: NaN/Inf rollback with a halved learning rate, divergence, interruption."""

import json
import signal
from pathlib import Path

import numpy as np
import pytest

from unroll.cli import main
from unroll.config import BPTTConfig, CorpusConfig, ModelConfig, TrainConfig
from unroll.data.text import load_bundled
from unroll.runs import run
from unroll.train.trainer import TrainingDiverged

MODEL = ModelConfig(hidden_size=16, num_layers=1, cell="gru", embedding_size=None, dropout=0.0, activation="tanh")


@pytest.fixture()
def corpus(tmp_path) -> str:
    path = tmp_path / "corpus.txt"
    path.write_text(load_bundled("tinyshakespeare")[:20000], encoding="utf-8")
    return str(path)


def make_trainer(tmp_path, corpus, **overrides):
    settings = {"corpus": CorpusConfig(data=corpus), "bptt": BPTTConfig(seq_len=10), "network": MODEL}
    config = TrainConfig(batch_size=4, eval_every=4, **overrides)
    return run.start(tmp_path / "run", "lm", settings, config, quiet=True)


def poison(trainer, bad_calls: set[int], value=float("nan")):
    """Make the task's training step return a non-finite loss on the given (1-based) calls."""
    real_step, calls = trainer.task.loss_and_grads, {"n": 0}

    def step(model, batch, state):
        calls["n"] += 1
        loss, grads, state = real_step(model, batch, state)
        return (value if calls["n"] in bad_calls else loss), grads, state

    trainer.task.loss_and_grads = step
    return calls


def test_nan_rolls_back_to_the_last_checkpoint_and_halves_the_learning_rate(tmp_path, corpus):
    trainer = make_trainer(tmp_path, corpus, max_steps=10)
    poison(trainer, {6})                          # the 6th step fails; the last checkpoint is step 4
    record = trainer.train()
    assert record["step"] == 10 and np.isfinite(record["valid_loss"])
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    events = [r for r in log if r.get("event") == "nan_rollback"]
    assert len(events) == 1 and events[0]["step"] == 4 and "halved" in events[0]["message"]
    assert trainer.counters["lr_scale"] == 0.5 and trainer.counters["nan_retries"] == 1
    assert log[-1]["lr"] == pytest.approx(TrainConfig().lr / 2)


def test_fourth_nan_stops_with_a_clear_message(tmp_path, corpus):
    trainer = make_trainer(tmp_path, corpus, max_steps=10)
    poison(trainer, {3, 4, 5, 6}, value=float("inf"))
    with pytest.raises(TrainingDiverged, match="NaN or Inf 4 times"):
        trainer.train()
    assert trainer.counters["lr_scale"] == 0.125
    assert (tmp_path / "run" / "latest").read_text().strip() == "step-00000000"   # the run folder stays sound


def test_a_stop_request_finishes_the_step_and_writes_a_checkpoint(tmp_path, corpus):
    trainer = make_trainer(tmp_path, corpus, max_steps=50)
    real_step, calls = trainer.task.loss_and_grads, {"n": 0}

    def step(model, batch, state):
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(signal.SIGINT)    # Ctrl-C in the middle of step 3
        return real_step(model, batch, state)

    trainer.task.loss_and_grads = step
    record = trainer.train()
    assert record["step"] == 3
    assert (tmp_path / "run" / "latest").read_text().strip() == "step-00000003"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_diverging_cli_run_exits_with_status_1(tmp_path, corpus, capsys, monkeypatch):
    from unroll.train import bptt
    monkeypatch.setattr(bptt.TruncatedBPTT, "step", lambda self, x, y: (float("nan"), {}))
    code = main(["train", "--data", corpus, "--hidden", "8", "--layers", "1", "--seq-len", "10", "--batch", "4",
                 "--max-steps", "5", "--out", str(tmp_path / "cli"), "--quiet"])
    assert code == 1
    assert "NaN or Inf 4 times" in capsys.readouterr().err
