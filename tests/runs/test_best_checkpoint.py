"""The best checkpoint is the best one, not the latest (issue 29): a run whose validation loss gets worse
after its best step (the learning rate raised to 2.0 on --resume), read back by `eval`, `predict` and
`unroll.runs.load` with "best" (the default) and "last". The reference for "best" is a copy of the run
folder taken at the best step, read as *its* latest checkpoint: a second path that never touches best/."""

import json
import shutil

import numpy as np
import pytest

from unroll.cli import main
from unroll.runs import load

from tests import saved

TEXT = "the quick brown fox jumps over the lazy dog. " * 40
TRAIN = ["--hidden", "16", "--layers", "1", "--seq-len", "16", "--batch", "4", "--eval-every", "5", "--quiet",
         "--schedule", "constant"]                                  # --lr 2 on resume acts at full strength


@pytest.fixture(scope="module")
def worse(tmp_path_factory):
    """(run: best at step 10, last at step 20 with a much worse validation loss; snapshot: the run at 10)."""
    root = tmp_path_factory.mktemp("best")
    (root / "t.txt").write_text(TEXT)
    run, snapshot = root / "run", root / "snapshot"
    assert main(["train", "--data", str(root / "t.txt"), *TRAIN, "--lr", "0.01", "--max-steps", "10",
                 "--out", str(run)]) == 0
    shutil.copytree(run, snapshot)
    assert main(["train", "--resume", str(run), "--lr", "2", "--max-steps", "20", "--quiet"]) == 0
    return run, snapshot


def valid_losses(run_dir) -> dict[int, float]:
    return {r["step"]: r["valid_loss"] for r in saved.log(run_dir) if "valid_loss" in r}


def cli(capsys, *argv) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_the_run_gets_worse_after_its_best_step(worse):
    run, _ = worse
    losses = valid_losses(run)
    assert sorted(losses) == [5, 10, 15, 20]
    assert min(losses, key=losses.get) == 10 and losses[20] > losses[10] + 1    # best 10, last 20, much worse
    assert (run / "best" / "latest").read_text().strip() == "step-00000010"


def test_eval_reads_the_best_step_by_default_and_the_last_when_asked(worse, capsys):
    run, _ = worse
    losses = valid_losses(run)
    best = json.loads(cli(capsys, "eval", str(run), "--json"))
    assert best["step"] == 10 and best["loss"] == pytest.approx(losses[10], rel=1e-12)
    assert json.loads(cli(capsys, "eval", str(run), "--checkpoint", "best", "--json")) == best
    last = json.loads(cli(capsys, "eval", str(run), "--checkpoint", "last", "--json"))
    assert last["step"] == 20 and last["loss"] == pytest.approx(losses[20], rel=1e-12)


def test_predict_answers_as_the_model_of_the_best_step(worse, capsys, monkeypatch):
    import io
    import sys
    run, snapshot = worse

    def predict(folder, *flags):
        monkeypatch.setattr(sys, "stdin", io.StringIO("the \n"))
        return cli(capsys, "predict", str(folder), "--greedy", "--length", "20", *flags)

    at_best = predict(snapshot, "--checkpoint", "last")
    at_last = predict(run, "--checkpoint", "last")
    assert at_best != at_last                                    # the two checkpoints answer differently
    assert predict(run) == at_best and predict(run, "--checkpoint", "best") == at_best


def test_load_gives_the_best_and_the_last_parameters(worse):
    run, snapshot = worse
    on_disk_best = saved.tensors(saved.checkpoint_dir(snapshot) / "model.safetensors")
    on_disk_last = saved.tensors(saved.checkpoint_dir(run) / "model.safetensors")
    best, last = load(run, "best"), load(run, "last")
    assert best.info["step"] == 10 and best.info["checkpoint"] == "best"
    assert last.info["step"] == 20 and last.info["checkpoint"] == "last"
    assert set(best.model.params) == set(on_disk_best) == set(on_disk_last)
    for key, value in on_disk_best.items():
        assert np.array_equal(best.model.params[key], value), key
        assert np.array_equal(last.model.params[key], on_disk_last[key]), key
        assert not np.array_equal(value, on_disk_last[key]), key
