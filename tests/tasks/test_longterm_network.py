"""The long-term task on the network section (format 5): the same models as format 4's own cell list built
them (irnn is the rnn with relu and --init identity:0.001), format-4 folders load, evaluate and resume, every
cell option reaches the one cell, and the stack settings that a one-cell readout model would not read are
refused in one line that names the flag, with no run folder left."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from unroll.cli import main
from unroll.config import TrainConfig
from unroll.runs import RunFolder, run
from unroll.tasks.longterm import LongTermNetwork, LongTermTask, ProblemConfig, cell_label
from unroll.tasks.upgrade import IRNN, upgrade_v4

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# sha256 (first 16 hex digits) of build_model(3)'s params, hidden 5, T 6, computed with format 4's
# CellConfig and TaskModel (main 6bad2a4) before the move: the same seed gives the same model.
FORMAT4_BUILDS = {
    "irnn": ("adding", dict(IRNN), "6ddc29d1610a1bc9"),
    "leaky": ("copy", dict(cell="leaky", alpha_range=(0.5, 0.9)), "aed2655268ebe495"),
    "skip": ("adding", dict(cell="skip", skip_every=10), "948a3c9f53a43434"),
    "lstm": ("copy", dict(cell="lstm"), "b20f2e4e1daec765"),
    "rnn": ("adding", dict(cell="rnn"), "c9474566cf57f9c4"),
}


def digest(params: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(params):
        h.update(k.encode())
        h.update(np.ascontiguousarray(params[k]).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(FORMAT4_BUILDS))
def test_the_network_section_builds_the_models_format_4_built(name):
    problem, network, expected = FORMAT4_BUILDS[name]
    task = LongTermTask({"train": TrainConfig(**LongTermTask.train_defaults), "problem": ProblemConfig(problem, 6),
                         "network": LongTermNetwork(hidden_size=5, **network)})
    assert digest(task.build_model(3).params) == expected


def test_the_irnn_init_is_identity_recurrence_zero_bias_and_small_input_weights():
    task = LongTermTask({"train": TrainConfig(**LongTermTask.train_defaults), "problem": ProblemConfig("adding", 6),
                         "network": LongTermNetwork(hidden_size=64, **IRNN)})
    model = task.build_model(0)
    assert np.array_equal(model.params["cell.W_h"], np.eye(64, dtype=np.float32))
    assert not model.params["cell.b"].any() and model.options == {"activation": "relu"}
    assert 0.0008 < model.params["cell.W_x"].std() < 0.0012


@pytest.mark.parametrize("fixture, network", [
    ("format4-longterm-irnn", {"cell": "rnn", "activation": "relu", "init": "identity:0.001", "hidden_size": 4}),
    ("format4-longterm-leaky", {"cell": "leaky", "hidden_size": 4, "alpha_range": [0.5, 0.9]}),
])
def test_a_format_4_folder_is_upgraded_evaluates_and_resumes(fixture, network, tmp_path, capsys):
    folder = Path(shutil.copytree(FIXTURES / fixture, tmp_path / "run"))
    info = RunFolder(folder).read_config()
    assert info["format"] == 5 and "model" not in info and info["network"] == network
    assert json.loads((folder / "config.json").read_text())["format"] == 4          # the file is left alone
    written = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    task, model, _ = run.load(folder)
    assert task.metrics(model, "valid")["loss"] == pytest.approx(written[-1]["valid_loss"], rel=1e-6)
    assert main(["train", "--resume", str(folder), "--max-steps", "4", "--quiet"]) == 0
    steps = [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()
             if "step" in json.loads(line)]
    assert steps[-1] == 4
    assert json.loads((folder / "result.json").read_text())["steps"] == 4


def test_upgrade_v4_keeps_only_what_each_cell_reads():
    old = {"format": 4, "task": "longterm", "model": {"cell": "gru", "hidden": 8, "skip_every": 10,
                                                      "alpha_range": [0.02, 0.2]}}
    assert upgrade_v4(old) == {"format": 5, "task": "longterm", "network": {"cell": "gru", "hidden_size": 8}}
    skip = upgrade_v4({"format": 4, "task": "longterm", "model": {"cell": "skip", "hidden": 8, "skip_every": 10}})
    assert skip["network"] == {"cell": "skip", "hidden_size": 8, "skip_every": 10}
    other = {"format": 4, "task": "classify", "network": {"cell": "gru"}}
    assert upgrade_v4(other) == dict(other, format=5)


@pytest.mark.parametrize("flags, option, value", [
    (["--cell", "skip", "--skip-every", "3"], "d", 3),
    (["--cell", "leaky", "--alpha", "0.25"], "alpha", 0.25),
    (["--cell", "rnn", "--activation", "sigmoid"], "activation", "sigmoid"),
])
def test_each_cell_option_reaches_the_cell(flags, option, value, tmp_path, capsys):
    assert main(["experiment", "adding", "--T", "6", "--hidden", "4", "--steps", "2", "--eval-every", "2", "--json",
                 "--valid-size", "8", "--test-size", "8", *flags, "--out", str(tmp_path / "run")]) == 0
    task, model, _ = run.load(tmp_path / "run")
    assert model.options[option] == value


def test_alpha_range_depth_and_init_act(tmp_path, capsys):
    common = ["experiment", "copy", "--T", "4", "--hidden", "6", "--steps", "1", "--eval-every", "1", "--json",
              "--valid-size", "8", "--test-size", "8"]
    assert main([*common, "--cell", "leaky", "--alpha-range", "0.6", "0.7", "--out", str(tmp_path / "a")]) == 0
    alpha = json.loads(capsys.readouterr().out)["alpha"]
    assert 0.55 < alpha["min"] and alpha["max"] < 0.75                  # one Adam step of lr 0.01 from U(0.6, 0.7)
    assert main([*common, "--cell", "deep_transition", "--depth", "3", "--out", str(tmp_path / "d")]) == 0
    capsys.readouterr()
    params = run.load(tmp_path / "d")[1].params
    assert {"cell.W_1", "cell.W_2"} <= set(params) or sum(k.startswith("cell.") for k in params) > 4
    initial = LongTermTask({"train": TrainConfig(**LongTermTask.train_defaults), "problem": ProblemConfig("copy", 4),
                            "network": LongTermNetwork(cell="gru", hidden_size=6, init="orthogonal")}).build_model(0)
    blocks = np.split(initial.params["cell.W_h"].astype(np.float64), 3, axis=1)
    for W in blocks:
        np.testing.assert_allclose(W.T @ W, np.eye(6), atol=1e-5)


@pytest.mark.parametrize("flags, message", [
    (["--layers", "2"], "--layers: the long-term experiments train one cell and a linear readout"),
    (["--bidirectional"], "--bidirectional: the long-term experiments train one cell"),
    (["--dropout", "0.2"], "--dropout: the long-term experiments train one cell"),
    (["--weight-drop", "0.2"], "--weight-drop: the long-term experiments train one cell"),
    (["--zoneout", "0.1"], "--zoneout: the long-term experiments train one cell"),
    (["--embedding", "8"], "--embedding: the long-term experiments train one cell"),
    (["--cell", "gru", "--skip-every", "3"], "--skip-every applies to --cell skip, not to --cell gru"),
    (["--cell", "lstm", "--alpha-range", "0.1", "0.2"], "--alpha-range applies to --cell leaky, not to --cell lstm"),
])
def test_stack_settings_are_refused_in_one_line_and_leave_no_folder(flags, message, tmp_path, capsys):
    out = tmp_path / "run"
    for command in (["experiment", "adding"], ["train", "--task", "longterm"]):
        assert main([*command, "--T", "6", "--max-steps", "2", *flags, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err
        assert not out.exists()


def test_cell_label_names_what_differs_from_the_plain_cell():
    assert cell_label(LongTermNetwork()) == "lstm"
    assert cell_label(LongTermNetwork(**IRNN)) == "rnn (relu, init identity:0.001)"
    assert cell_label(LongTermNetwork(cell="skip", skip_every=10)) == "skip (skip-every 10)"
    assert cell_label(LongTermNetwork(cell="leaky", alpha_range=(0.8, 0.99))) == "leaky (alpha-range 0.8 0.99)"
