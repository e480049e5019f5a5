"""The long-term task (adding, copying): the readout model's gradients, an LSTM that learns the adding
problem at T = 50, the `experiment` command and its run folders, the clipping contrast, and diagnose."""

import argparse
import json
import math

import numpy as np
import pytest

from unroll.analysis import diagnose as D
from unroll.cli import main
from unroll.config import TrainConfig
from unroll.nn import gradcheck
from unroll.nn.cells import CELLS
from unroll.tasks.longterm import LongTermNetwork, LongTermTask, ProblemConfig
from unroll.tasks.upgrade import IRNN
from unroll.runs import run


def network(cell, hidden, skip_every=10):
    """The network section of a cell name, "irnn" being the rnn with relu and --init identity:0.001."""
    if cell == "irnn":
        return LongTermNetwork(**IRNN, hidden_size=hidden)
    return LongTermNetwork(cell=cell, hidden_size=hidden, **({"skip_every": skip_every} if cell == "skip" else {}))


def experiment(problem="adding", cell="lstm", T=100, seed=0, hidden=64, steps=5000, clip=1.0, eval_every=100,
               target=None, valid_size=500, test_size=2000, max_time=None, skip_every=10):
    """run.experiment with the settings of the old ExperimentConfig (same defaults, but bounded by steps only:
    no test depends on the machine's speed)."""
    settings = {"problem": ProblemConfig(problem, T, target, valid_size, test_size),
                "network": network(cell, hidden, skip_every)}
    train = TrainConfig(**{**LongTermTask.train_defaults, "max_steps": steps, "clip": clip, "eval_every": eval_every,
                           "max_time": max_time, "seed": seed})
    return run.experiment("longterm", settings, train)


def make_task(problem, cell, T, hidden, skip_every=10):
    settings = {"problem": ProblemConfig(problem, T), "network": network(cell, hidden, skip_every)}
    return LongTermTask({"train": TrainConfig(**LongTermTask.train_defaults), **settings})


@pytest.mark.parametrize("task", ["adding", "copy"])
@pytest.mark.parametrize("cell", ["irnn", *CELLS])
def test_task_model_gradients_match_centred_differences(task, cell):
    t = make_task(task, cell, T=4, hidden=3, skip_every=2)
    model = t.build_model(0, dtype=np.float64)
    rng = np.random.default_rng(1)
    model.params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in model.params.items()}  # off the IRNN's kinks
    x, y = t.make_batch(3, rng)
    x = x.astype(np.float64)
    y = y.astype(np.float64) if task == "adding" else y
    _, grads, state = model.loss_and_grads((x, y))
    assert set(grads) == set(model.params) and state is None
    errors = gradcheck.check(lambda: model.forward_loss(x, y, need_grads=False)[0], model.params, grads)
    assert max(errors.values()) < 1e-7, errors


def test_lstm_learns_the_adding_problem_at_T50():
    """Bounded by steps, never by time: seed 0 stops early at step 900 with test MSE 0.0026 (measured;
    the baseline is 1/6), whatever the machine's load."""
    result, _ = experiment("adding", "lstm", T=50, seed=0, steps=2500, valid_size=300, test_size=1000)
    assert not result["diverged"]
    assert result["test_mse"] < 0.01, result
    assert result["baseline_mse"] == pytest.approx(1 / 6)
    assert result["steps"] <= 1500                             # stopped early on the validation set (900)


def test_clipping_rescues_an_irnn_whose_gradient_explodes():
    """IRNN on adding T = 50: the first Adam step makes W_h = I + 0.01·(signs), whose powers explode
    (gradient norm ~1e8 at step 2). Unclipped, that gradient fills Adam's second moment and the run stays
    above the baseline; clipped, the same run solves the task."""
    common = dict(problem="adding", cell="irnn", T=50, seed=0, steps=3000, valid_size=300, test_size=500)
    clipped, _ = experiment(clip=1.0, **common)
    unclipped, _ = experiment(clip=0.0, **common)
    assert unclipped["max_grad_norm"] > 1e6 and clipped["max_grad_norm"] > 1e6   # it explodes either way
    assert unclipped["max_train_loss"] > 1e4
    assert unclipped["test_mse"] > 0.1                         # measured 0.24 (baseline 0.167): nowhere near solved
    assert clipped["test_mse"] < 0.01                          # measured 0.003 at step 1600


def test_experiment_command_prints_one_json_object_and_writes_a_run_folder(capsys, tmp_path):
    assert main(["experiment", "copy", "--cell", "gru", "--T", "5", "--steps", "30", "--eval-every", "10", "--json",
                 "--out", str(tmp_path / "run")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["baseline_loss"] == pytest.approx(10 * math.log(8) / 25)
    assert math.isfinite(result["test_loss"]) and 0 <= result["test_accuracy"] <= 1
    assert {"config.json", "metrics.jsonl", "latest", "checkpoints", "result.json"} <= {p.name for p in (tmp_path / "run").iterdir()}
    from unroll.analysis.plots import read_metrics
    records = read_metrics(tmp_path / "run")
    assert len(records) == 30 and [r["step"] for r in records if "valid_loss" in r] == [10, 20, 30]
    task, model, info = run.load(tmp_path / "run")
    x, y = task.make_batch(ProblemConfig().test_size, np.random.default_rng(np.random.SeedSequence(0).spawn(4)[3]))
    assert info["step"] == 30
    assert model.evaluate(x, y)["loss"] == pytest.approx(result["test_loss"], rel=1e-6)   # same weights back


def test_an_experiment_resumes_bit_identically(tmp_path):
    options = ["experiment", "adding", "--cell", "gru", "--T", "6", "--hidden", "8", "--eval-every", "5", "--target", "0"]
    assert main([*options, "--steps", "12", "--out", str(tmp_path / "whole"), "--json"]) == 0
    assert main([*options, "--steps", "7", "--out", str(tmp_path / "split"), "--json"]) == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--max-steps", "12", "--quiet"]) == 0
    whole, split = run.load(tmp_path / "whole")[1], run.load(tmp_path / "split")[1]
    for key in whole.params:
        assert np.array_equal(whole.params[key], split.params[key]), key
    assert json.loads((tmp_path / "split" / "result.json").read_text())["steps"] == 12


def test_commands_register_on_any_subparsers_and_run(capsys):
    from unroll.cli import add_command, invoke
    parser = argparse.ArgumentParser(prog="unroll")
    sub = parser.add_subparsers()
    for command in (*LongTermTask.commands, *D.COMMANDS):
        add_command(sub, command)
    args = parser.parse_args(["experiment", "adding", "--cell", "rnn", "--activation", "relu", "--init", "identity:0.001", "--T", "6", "--steps", "5", "--json"])
    assert invoke(args.command, args) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"test_mse", "baseline_mse", "solved", "steps"} <= set(result) and result["steps"] == 5
    args = parser.parse_args(["diagnose", "--out", "somewhere"])
    assert args.command.run is D.cmd_diagnose and args.T == 50


@pytest.mark.parametrize("argv, match", [
    (["adding", "--T", "1"], "T >= 2"),
    (["copy", "--hidden", "0"], "--hidden must be a positive integer, got 0"),
])
def test_bad_settings_are_one_line_errors(argv, match, capsys):
    assert main(["experiment", *argv]) == 2
    assert match in capsys.readouterr().err


def test_same_seed_same_result():
    common = dict(problem="adding", cell="leaky", T=8, steps=20, eval_every=10, valid_size=50, test_size=50)
    a, _ = experiment(**common)
    b, _ = experiment(**common)
    assert a["test_mse"] == b["test_mse"] and 0.02 <= a["alpha"]["min"] and a["alpha"]["max"] < 0.3


def test_diagnose_trains_three_models_and_writes_figures_and_json(tmp_path, monkeypatch):
    from matplotlib.figure import Figure
    drawn, savefig = {}, Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kw: (drawn.__setitem__(path.name, fig),
                                                                     savefig(fig, path, **kw))[1])
    report = D.diagnose(tmp_path, T=8, steps=10, hidden=4, log=lambda msg: None)
    assert set(report["models"]) == {"rnn", "lstm", "gru"}
    assert set(drawn) == {"gradient_flow.png", "jacobian_norms.png", "activations.png", "gaussian_scale.png"}
    assert all((tmp_path / name).is_file() for name in drawn)
    saved = json.loads((tmp_path / "diagnose.json").read_text())
    for name in ("gradient_flow.png", "jacobian_norms.png"):   # each panel draws its JSON series, log scale
        fig, panels = drawn[name], saved["figures"][name]
        assert [ax.get_title() for ax in fig.axes] == list(panels)
        for ax, (label, data) in zip(fig.axes, panels.items()):
            assert ax.get_yscale() == "log" and ax.get_xlabel() == "distance in time T - k"
            lines = {line.get_label(): line for line in ax.get_lines()}
            assert set(lines) == {k.replace("_", " ") for k in data if k != "distance"}
            for key in set(data) - {"distance"}:
                line = lines[key.replace("_", " ")]
                assert list(line.get_xdata()) == list(range(9)) == data["distance"]
                np.testing.assert_array_equal(np.nan_to_num(line.get_ydata()), np.array(data[key], float))
    flow = saved["figures"]["gradient_flow.png"]
    assert set(flow) == {"rnn", "lstm", "gru"} and len(flow["rnn"]["distance"]) == 9
    assert {"initial", "trained", "initial (cell state c)", "trained (cell state c)"} == set(flow["lstm"]) - {"distance"}
    rnn_trained = saved["models"]["rnn"]["stages"]["trained"]
    assert all(j <= b * (1 + 1e-9) for j, b in zip(rnn_trained["jacobian_norm_mean"], rnn_trained["seeds_bound"]))
    assert set(saved["models"]["gru"]["stages"]["trained"]["gate_saturation"]) == {"r", "z"}
    assert saved["models"]["lstm"]["stages"]["initial"]["clipping"]["scale"] <= 1.0


def test_diagnose_loads_a_run_folder(tmp_path):
    assert main(["experiment", "adding", "--cell", "lstm", "--T", "6", "--steps", "5", "--out", str(tmp_path / "run")]) == 0
    report = D.diagnose(tmp_path / "diag", runs=[tmp_path / "run"], log=lambda msg: None)
    (label, entry), = report["models"].items()
    assert label == "lstm (run)" and entry["result"]["T"] == 6
    task, trained, _ = run.load(tmp_path / "run")
    initial = task.build_model(task.settings["train"].seed)
    assert not np.allclose(initial.params["cell.W_h"], trained.params["cell.W_h"])
    assert (tmp_path / "diag" / "gradient_flow.png").is_file()


def test_an_experiment_folder_of_unroll_0_1_gets_a_one_line_message(tmp_path, capsys):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps({"experiment": {"task": "adding", "cell": "lstm"}}))
    assert main(["diagnose", "--run", str(tmp_path / "old"), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert "written by `unroll experiment` of unroll 0.1" in err and "\n" not in err
