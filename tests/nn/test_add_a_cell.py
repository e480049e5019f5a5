"""Adding a cell is one engine file and one registration line: a toy cell (tests/nn/toy_cell.py, the vanilla
RNN under another name) registered with ``register_cell`` is offered by every task's --cell and trains
through `--task classify` and `--task lm` exactly as the cell whose equations it has."""

import json

import numpy as np
import pytest

from unroll.cli import main
from unroll.nn import gradcheck, stack
from unroll.runs import run
from tests.nn import toy_cell
from tests.tasks.helpers import write_sentiment_tsv


@pytest.fixture()
def toy(monkeypatch):
    monkeypatch.setitem(stack.CELLS, "toy", stack.CELLS["rnn"])          # restored after the test
    stack.register_cell("toy", toy_cell, 1, ("activation",))             # the one registration line


def params_of(folder, cell):
    model = run.load(folder)[1]
    return {k.replace(f".{cell}", ".CELL"): v for k, v in model.params.items()}


def test_the_toy_cells_gradients_in_a_bidirectional_masked_stack_match_centred_differences(toy):
    s = stack.Stack("toy", 3, 4, num_layers=2, bidirectional=True)
    mask = np.ones((5, 2))
    mask[3:, 1] = 0                                                      # the second sequence has 3 steps
    errors = gradcheck.check_stack(s, mask, 5, 2, 3, np.random.default_rng(0))
    assert "layer0.toy.W_h" in errors and "layer1.toy_reverse.W_x" in errors and max(errors.values()) < 1e-7


@pytest.mark.parametrize("task, extra", [
    ("classify", ["--hidden", "8", "--bidirectional", "--readout", "mean"]),
    ("lm", ["--hidden", "8", "--layers", "1", "--seq-len", "10", "--batch", "4"]),
])
def test_a_registered_cell_trains_through_a_task_exactly_as_its_twin(task, extra, toy, tmp_path):
    data = tmp_path / "data.txt"
    if task == "classify":
        write_sentiment_tsv(data)
    else:
        data.write_text("the quick brown fox jumps over the lazy dog\n" * 40)
    common = ["train", "--task", task, "--data", str(data), *extra, "--max-steps", "12", "--eval-every", "6",
              "--quiet"]
    for cell in ("toy", "rnn"):
        assert main([*common, "--cell", cell, "--out", str(tmp_path / cell)]) == 0
    assert json.loads((tmp_path / "toy" / "config.json").read_text())["network"]["cell"] == "toy"
    toy_params, rnn_params = params_of(tmp_path / "toy", "toy"), params_of(tmp_path / "rnn", "rnn")
    assert sorted(toy_params) == sorted(rnn_params) and any(".CELL." in k for k in toy_params)
    if task == "lm":          # the language model folds rnn's input projection into the embedding: rounding differs
        for k in rnn_params:
            np.testing.assert_allclose(toy_params[k], rnn_params[k], rtol=1e-4, atol=1e-5)
    else:
        assert all(np.array_equal(toy_params[k], rnn_params[k]) for k in rnn_params)
    log = [json.loads(line) for line in (tmp_path / "toy" / "metrics.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 12 and np.isfinite(log[-1]["valid_loss"])


def test_an_unregistered_cell_is_refused_in_one_line(tmp_path, capsys):
    code = main(["train", "--task", "classify", "--data", "x.tsv", "--cell", "toy", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "invalid choice: 'toy'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
