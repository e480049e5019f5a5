"""The task protocol (unroll.tasks.base) on the worked example of its docstring: a task that learns the
mean of T numbers. Its model's gradients are checked by centred differences, its batches resume exactly,
and the registry names what it has."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

from unroll.config import option
from unroll.nn import gradcheck, rnn
from unroll.tasks import TASKS, get_task
from unroll.tasks.base import GeneratedBatches, Task


@dataclass(frozen=True)
class MeanConfig:
    T: int = option(5, "--T", "sequence length")
    hidden: int = option(8, "--hidden", "units")


class MeanModel:
    """h_t = tanh(x_t W_x + h_{t-1} W_h + b); ŷ = h_T w; loss = mean (ŷ - y)²."""

    def __init__(self, H, rng):
        self.params = {f"cell.{k}": v for k, v in rnn.init(1, H, rng, np.float64).items()}
        self.params["out.w"] = rng.standard_normal((H, 1)) / H

    def predict(self, x):
        cell = {k[5:]: v for k, v in self.params.items() if k.startswith("cell.")}
        hs, _, cache = rnn.forward(x, cell)
        return hs, cache, hs[-1] @ self.params["out.w"]

    def loss_and_grads(self, batch, state=None):
        x, y = batch                                 # x (T, N, 1), y (N, 1)
        hs, cache, pred = self.predict(x)
        diff = pred - y
        dpred = (2 / diff.size) * diff
        dhs = np.zeros_like(hs)
        dhs[-1] = dpred @ self.params["out.w"].T
        _, _, g = rnn.backward(dhs, cache)
        grads = {f"cell.{k}": v for k, v in g.items()}
        grads["out.w"] = hs[-1].T @ dpred
        return float(np.mean(diff ** 2)), grads, None


class MeanTask(Task):
    name, help = "mean", "predict the mean of T numbers"
    sections = {"mean": MeanConfig}
    train_defaults = {"lr": 1e-2, "max_steps": 200}

    def prepare(self):
        self.prepared = {}
        return self.prepared

    def make_batch(self, N, rng):
        x = rng.uniform(-1, 1, (self.settings["mean"].T, N, 1))
        return x, x.mean(axis=0)

    def batches(self, train):
        return GeneratedBatches(self.make_batch, train.batch_size, self.stream(train.seed, "train"))

    def build_model(self, seed, dtype=np.float64):
        return MeanModel(self.settings["mean"].hidden, self.stream(seed, "init"))

    def metrics(self, model, split):
        loss, _, _ = model.loss_and_grads(self.make_batch(256, self.stream(0, split)))
        return {"loss": loss}

    def predict(self, model, lines, options):
        for number, line in enumerate(lines, 1):
            try:
                x = np.array(line.split(), float)[:, None, None]
            except ValueError:
                raise ValueError(f"line {number}: expected numbers, got {line!r}") from None
            yield f"{model.predict(x)[2][0, 0]:.3f}"


def test_the_example_models_gradients_match_centred_differences():
    task = MeanTask({"mean": MeanConfig(T=4, hidden=3)})
    model = task.build_model(seed=0)
    batch = task.make_batch(5, np.random.default_rng(1))
    _, grads, state = task.loss_and_grads(model, batch)
    assert state is None and set(grads) == set(model.params)
    errors = gradcheck.check(lambda: model.loss_and_grads(batch)[0], model.params, grads)
    assert max(errors.values()) < 1e-7, errors


def test_generated_batches_resume_exactly_from_their_state_dict():
    task = MeanTask({"mean": MeanConfig()})

    class Train:
        batch_size, seed = 4, 3

    straight = task.batches(Train)
    expected = [next(straight)[0] for _ in range(7)]
    interrupted = task.batches(Train)
    for _ in range(3):
        next(interrupted)
    arrays, scalars = interrupted.state_dict()
    resumed = task.batches(Train)
    resumed.load_state_dict(arrays, scalars)
    for k in range(3, 7):
        np.testing.assert_array_equal(next(resumed)[0], expected[k])
    assert scalars["drawn"] == 3 and resumed.drawn == 7 and not resumed.reset_state and resumed.epoch == 0


def test_defaults_of_the_base_class():
    task = MeanTask({"mean": MeanConfig()})
    x = np.zeros((5, 3, 1))
    assert task.count((x, None)) == 15
    assert task.done({"loss": 0.0}) is False
    assert task.describe({"loss": 0.25, "n": 3}) == "loss 0.2500, n 3"
    assert list(task.predict(task.build_model(0), ["0.5 0.5"], None))[0].count(".") == 1
    with pytest.raises(ValueError, match="line 2: expected numbers"):
        list(task.predict(task.build_model(0), ["1", "x"], None))
    with pytest.raises(ValueError, match="needs the settings section"):
        MeanTask({})


def test_independent_streams_per_purpose():
    a, b = Task.stream(0, "train").random(3), Task.stream(0, "valid").random(3)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, Task.stream(0, "train").random(3))


def test_registry_names_its_tasks_in_one_line_errors():
    assert "lm" in TASKS and "longterm" in TASKS
    with pytest.raises(ValueError, match="task must be one of lm, longterm"):
        get_task("nope")


TASK = MeanTask      # so that the registry can import this module as a task module


@pytest.fixture()
def mean_registered(monkeypatch):
    monkeypatch.setitem(TASKS, "mean", __name__)


def test_the_example_trains_evaluates_predicts_and_resumes_through_the_cli(tmp_path, capsys, mean_registered):
    """Nothing in the CLI, trainer or run folder knows the task: --T is its flag, lr 1e-2 its default."""
    from unroll.cli import main
    from unroll.runs import run
    common = ["train", "--task", "mean", "--T", "6", "--batch", "16", "--eval-every", "10", "--quiet"]
    assert main([*common, "--max-steps", "40", "--out", str(tmp_path / "whole")]) == 0
    log = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    valid = [r["valid_loss"] for r in log if "valid_loss" in r]
    assert len(valid) == 4 and valid[-1] < valid[0] and log[-1]["lr"] == 1e-2
    config = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert config["task"] == "mean" and config["mean"] == {"T": 6, "hidden": 8}
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "whole"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(valid[-1], rel=1e-12)
    lines = tmp_path / "in.txt"
    lines.write_text("0.5 0.5 0.5\n-1 1\n")
    assert main(["predict", str(tmp_path / "whole"), str(lines)]) == 0
    out = capsys.readouterr().out.splitlines()
    model = run.load(tmp_path / "whole")[1]
    expected = [model.predict(np.array(v, float)[:, None, None])[2][0, 0] for v in ([0.5] * 3, [-1, 1])]
    assert out == [f"{v:.3f}" for v in expected]
    assert main([*common, "--max-steps", "25", "--out", str(tmp_path / "split")]) == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--max-steps", "40", "--quiet"]) == 0
    whole, split = run.load(tmp_path / "whole")[1], run.load(tmp_path / "split")[1]
    for key in whole.params:
        assert np.array_equal(whole.params[key], split.params[key]), key
