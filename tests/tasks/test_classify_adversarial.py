"""`unroll train --task classify --adversarial EPS` through the CLI: the setting is stored and the logged
training loss is J = L(e) + L(e + r) (each member's own r), the run resumes exactly (both passes draw their
dropout masks from the checkpointed generator), a run folder written before the flag reads ε = 0, and a bad
ε is one line naming the flag with no folder left."""

import json

import numpy as np
import pytest

from unroll.cli import main
from unroll.nn import adversarial
from unroll.runs import run

from tests import saved
from tests.saved import final, same
from tests.tasks.helpers import write_sentiment_tsv

SMALL = ["train", "--task", "classify", "--data", "s.tsv", "--hidden", "4", "--embedding", "3", "--batch", "8",
         "--lr", "0.01", "--schedule", "constant", "--eval-every", "2", "--log-every", "1", "--quiet"]


@pytest.fixture()
def data(tmp_path, monkeypatch):
    write_sentiment_tsv(tmp_path / "s.tsv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_logged_loss_is_the_adversarial_objective_of_the_first_batch(data):
    assert main([*SMALL, "--adversarial", "0.5", "--max-steps", "1", "--out", "a"]) == 0
    assert json.loads((data / "a" / "config.json").read_text())["classify"]["adversarial"] == 0.5
    task, _ = run.read_task(data / "a")
    model = task.build_model(task.settings["train"].seed)                  # the weights the run started from
    ids, mask, labels = next(task.batches(task.settings["train"]))
    objective = []
    for k in range(3):                                                     # the default three members, in order
        member = model.member(k)
        clean, _, d_e, m = member._pass(ids, mask, labels, None)
        moved = member._pass(ids, mask, labels, adversarial.direction(d_e, m, 0.5))[0]
        assert moved > clean                                               # r raises each member's loss
        objective.append(clean + moved)
    assert np.isclose(saved.log(data / "a")[0]["train_loss"], np.mean(objective), rtol=1e-6, atol=0)


def test_a_run_resumes_exactly(data):
    assert main([*SMALL, "--adversarial", "0.5", "--members", "2", "--max-steps", "4", "--out", "whole"]) == 0
    assert main([*SMALL, "--adversarial", "0.5", "--members", "2", "--max-steps", "2", "--out", "cut"]) == 0
    assert main(["train", "--resume", "cut", "--max-steps", "4", "--quiet"]) == 0
    assert same(final(data / "whole"), final(data / "cut"))


def test_a_run_folder_without_the_key_reads_epsilon_zero(data):
    assert main([*SMALL, "--members", "1", "--max-steps", "2", "--out", "old"]) == 0
    config = json.loads((data / "old" / "config.json").read_text())
    assert config["classify"].pop("adversarial") == 0.0
    (data / "old" / "config.json").write_text(json.dumps(config, indent=1))
    task, model, _ = run.load(data / "old")
    assert task.cfg.adversarial == 0.0 and model.config["adversarial"] == 0.0


@pytest.mark.parametrize("value, message", [("-1", "--adversarial must be a number >= 0 (the step ε; 0: off)"),
                                            ("nan", "argument --adversarial: 'nan' is not a finite number")])
def test_a_bad_epsilon_is_one_line_naming_the_flag(data, capsys, value, message):
    assert main([*SMALL, "--adversarial", value, "--max-steps", "1", "--out", "bad"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (data / "bad").exists()
