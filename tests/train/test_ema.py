"""`unroll train --ema DECAY` (unroll/train/ema.py): the average after k steps is the closed form of the raw
weights the optimizer made (warm-up d_t = min(d, (1 + t) / (10 + t)) included); validation, the best
checkpoint, `unroll eval` and the model a run returns use the average while the raw weights train on (kept
in the checkpoint's ``raw`` part); an interrupted and resumed run ends bit for bit where an uninterrupted
one does, for a stateless task and for the language model's carried state; a run folder without the
setting resumes as before (no average, no ``raw`` part); a bad decay is one line naming the flag."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from unroll.cli import main
from unroll.config import TrainConfig
from unroll.runs import RunFolder, run
from unroll.tasks import get_task
from unroll.train import trainer as trainer_module
from unroll.train.ema import WeightAverage, decay_at

from tests import saved
from tests.tasks.helpers import sections, sentiment_lines

FORMAT3 = Path(__file__).resolve().parents[1] / "fixtures" / "format3-classify"
CLASSIFY = ["train", "--task", "classify", "--data", "s.tsv", "--hidden", "4", "--embedding", "3", "--batch", "8",
            "--lr", "0.02", "--eval-every", "5", "--schedule", "constant", "--members", "1", "--quiet"]   # one model
LM = ["train", "--data", "c.txt", "--hidden", "4", "--layers", "1", "--seq-len", "5", "--batch", "2", "--lr", "0.01",
      "--eval-every", "5", "--schedule", "constant", "--quiet"]


@pytest.fixture()
def data(tmp_path, monkeypatch):
    (tmp_path / "s.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(200)))
    (tmp_path / "c.txt").write_text("abcdefgh " * 200)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def closed_form(thetas: list[dict], decay: float) -> dict:
    """θ̄_k = (Π_{i=1..k} d_i) θ_0 + Σ_{j=1..k} (1 - d_j) (Π_{i=j+1..k} d_i) θ_j, thetas = [θ_0, ..., θ_k]."""
    k = len(thetas) - 1
    d = [None] + [decay_at(decay, t) for t in range(1, k + 1)]
    weights = [float(np.prod(d[1:]))] + [(1 - d[j]) * float(np.prod(d[j + 1:])) for j in range(1, k + 1)]
    assert sum(weights) == pytest.approx(1.0, rel=1e-14)
    return {key: sum(w * theta[key] for w, theta in zip(weights, thetas)) for key in thetas[0]}


def model_tensors(run_dir, best: bool = False) -> dict:
    return saved.tensors(saved.checkpoint_dir(run_dir, best) / "model.safetensors")


def raw_tensors(run_dir) -> dict:
    arrays = saved.tensors(saved.checkpoint_dir(run_dir) / "train.safetensors")
    return {k[len("raw."):]: v for k, v in arrays.items() if k.startswith("raw.")}


def same(one: dict, two: dict) -> bool:
    return one.keys() == two.keys() and all(np.array_equal(one[k], two[k]) for k in one)


def test_the_warm_up_and_the_update_are_the_closed_form():
    assert decay_at(0.999, 1) == 2 / 11 and decay_at(0.999, 100) == 101 / 110 and decay_at(0.5, 8) == 0.5
    assert decay_at(0.999, 20000) == 0.999
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((3, 2)), "b": rng.standard_normal(4)}
    thetas = [{k: v.copy() for k, v in params.items()}]
    average = WeightAverage(params, 0.6)
    for step in range(1, 31):                       # d_t reaches 0.6 at t = 13: warm-up and cap both covered
        for value in params.values():
            value += rng.standard_normal(value.shape)
        average.update(step)
        thetas.append({k: v.copy() for k, v in params.items()})
    expected = closed_form(thetas, 0.6)
    for key in params:
        np.testing.assert_allclose(average.average[key], expected[key], rtol=1e-12, atol=1e-13)
        assert np.array_equal(params[key], thetas[-1][key])             # the raw weights are left alone


def test_a_trained_average_is_the_closed_form_of_the_raw_weights(data, monkeypatch):
    thetas, step = [], trainer_module.Trainer._train_step

    def recording_step(self):
        if not thetas:
            thetas.append({k: v.copy() for k, v in self.model.params.items()})      # θ_0
        out = step(self)
        thetas.append({k: v.copy() for k, v in self.model.params.items()})
        return out

    monkeypatch.setattr(trainer_module.Trainer, "_train_step", recording_step)
    assert main([*CLASSIFY, "--dtype", "float64", "--max-steps", "12", "--ema", "0.5", "--out", "r"]) == 0
    assert len(thetas) == 13
    expected, average, raw = closed_form(thetas, 0.5), model_tensors(data / "r"), raw_tensors(data / "r")
    assert same(raw, thetas[-1])                                        # raw.<name>: θ_12, bit for bit
    for key in expected:
        np.testing.assert_allclose(average[key], expected[key], rtol=1e-12, atol=1e-13)
    assert not np.allclose(average["out.W"], raw["out.W"])      # the average is not the raw weights


def test_validation_eval_and_the_returned_model_use_the_average(data, capsys):
    assert main([*CLASSIFY, "--max-steps", "20", "--ema", "0.9", "--out", "r"]) == 0
    records = [r for r in saved.log(data / "r") if "valid_loss" in r]
    capsys.readouterr()
    assert main(["eval", "r", "--checkpoint", "last", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(records[-1]["valid_loss"], rel=1e-12)
    best = next(r for r in reversed(records) if r.get("new_best"))
    assert main(["eval", "r", "--json"]) == 0                          # the best checkpoint: the average too
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(best["valid_loss"], rel=1e-12)
    task, model, _ = run.load(data / "r", "last")
    for key, value in raw_tensors(data / "r").items():
        model.params[key][...] = value
    assert task.metrics(model, "valid")["loss"] != pytest.approx(records[-1]["valid_loss"], rel=1e-6)


def test_a_run_returns_the_averaged_model(data):
    settings = sections(get_task("classify"), data="s.tsv", hidden_size=4, embedding_size=3)
    train = TrainConfig(batch_size=8, lr=0.02, max_steps=10, eval_every=5, ema=0.9)
    _, model = run.experiment("classify", settings, train, out=data / "x")
    assert same(dict(model.params), model_tensors(data / "x"))


@pytest.mark.parametrize("command", [CLASSIFY, LM], ids=["classify", "lm"])
def test_an_interrupted_and_resumed_run_ends_bit_identical(data, command):
    assert main([*command, "--max-steps", "20", "--ema", "0.9", "--out", "whole"]) == 0
    assert main([*command, "--max-steps", "8", "--ema", "0.9", "--out", "split"]) == 0
    assert main(["train", "--resume", "split", "--max-steps", "20", "--quiet"]) == 0
    assert same(model_tensors(data / "whole"), model_tensors(data / "split"))
    assert same(raw_tensors(data / "whole"), raw_tensors(data / "split")) and raw_tensors(data / "whole")
    assert same(model_tensors(data / "whole", best=True), model_tensors(data / "split", best=True))
    losses = [{r["step"]: r["valid_loss"] for r in saved.log(data / d) if "valid_loss" in r and r["step"] % 5 == 0}
              for d in ("whole", "split")]
    assert losses[0] == losses[1] and len(losses[0]) == 4


def test_a_run_folder_without_the_setting_resumes_without_an_average(tmp_path, monkeypatch):
    """tests/fixtures/format3-classify was written before --ema: its config.json has no "ema"."""
    folder = Path(shutil.copytree(FORMAT3, tmp_path / "run"))
    monkeypatch.chdir(folder)
    assert "ema" not in json.loads((folder / "config.json").read_text())["train"]
    assert RunFolder(folder).task()[0].settings["train"].ema == 0.0
    assert main(["train", "--resume", str(folder), "--max-steps", "4", "--quiet"]) == 0
    state = json.loads((saved.checkpoint_dir(folder) / "state.json").read_text())
    assert state["step"] == 4 and "raw" not in state["components"] and not raw_tensors(folder)


@pytest.mark.parametrize("value", ["1", "-0.1", "1.5"])
def test_a_bad_decay_is_one_line_naming_the_flag(data, capsys, value):
    assert main([*CLASSIFY, "--max-steps", "2", "--ema", value, "--out", "bad"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"unroll: error: --ema must lie in [0, 1) (a decay such as 0.999; 0: off), got {float(value)!r}"]
    assert not (data / "bad").exists()


def test_the_decay_cannot_change_on_resume(data, capsys):
    assert main([*CLASSIFY, "--max-steps", "5", "--ema", "0.9", "--out", "r"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "r", "--max-steps", "10", "--ema", "0.99", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "these cannot change on --resume: --ema" in err[0]
