"""The tag defaults of issue #30 (docs/tune.md, "Tag defaults"): a bidirectional LSTM 64, embedding 32,
dropout 0.2 before the output layer, batch 32, Adam 3e-3, clip 5, and, with no schedule named, the rate
decaying by cosine to the end of the budget (the last step of --max-steps, else the --max-time deadline,
tested with the other cosine tasks in tests/train/test_default_schedule.py); a tag run folder written before
(a constant rate, no dropout) resumes as it ran; the segmentation benchmark's task model passes --flags to
`unroll train --task tag`, scores the text's last 10% and reports its best checkpoint's validation boundary F1."""

import json
import math
from pathlib import Path

import pytest

from unroll.cli import main
from unroll.data.columns import read_conll, write_conll
from unroll.data.segment import segmentation_examples
from unroll.data.text import load_bundled, split
from unroll.tune.spec import train_settings

from tests import saved
from tests.tasks.helpers import load_benchmark

SMALL = ["--level", "char", "--hidden", "4", "--embedding", "3", "--batch", "8", "--lr", "0.01", "--quiet"]
BENCH_FLAGS = "--hidden 8 --embedding 4 --eval-every 10 --lr 0.05 --schedule constant --dropout 0"  # learns in 30


@pytest.fixture()
def data(tmp_path) -> Path:
    path = tmp_path / "seg.conll"
    write_conll(path, segmentation_examples(load_bundled()[:3000]))
    return path



def train(data, out, *flags) -> int:
    return main(["train", "--task", "tag", "--data", str(data), *SMALL, "--out", str(out), *flags])


def test_the_defaults_are_pinned():
    settings, run = train_settings("tag", [])
    net = settings["network"]
    assert (net.cell, net.hidden_size, net.num_layers, net.bidirectional, net.embedding_size, net.dropout) == \
        ("lstm", 64, 1, True, 32, 0.2)
    assert (run.batch_size, run.optimizer, run.lr, run.clip, run.min_lr) == (32, "adam", 3e-3, 5.0, 0.0)
    assert (run.schedule, run.eval_every) == ("cosine", 200)


def test_tag_decays_by_cosine_to_its_last_step(data, tmp_path):
    assert train(data, tmp_path / "run", "--max-steps", "6", "--log-every", "1", "--eval-every", "3") == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert (config["schedule"], config["total_steps"]) == ("cosine", 6)
    assert saved.rates(tmp_path / "run") == {s: 0.01 * 0.5 * (1 + math.cos(math.pi * s / 6)) for s in range(1, 7)}



def test_schedule_constant_keeps_the_old_rate(data, tmp_path):
    assert train(data, tmp_path / "run", "--max-steps", "4", "--log-every", "1", "--eval-every", "4",
                 "--schedule", "constant") == 0
    assert set(saved.rates(tmp_path / "run").values()) == {0.01}


@pytest.mark.parametrize("written", ["constant", None])
def test_a_run_folder_of_the_old_defaults_resumes_at_its_constant_rate(data, tmp_path, written):
    """A tag run made before this study stored schedule constant and dropout 0, with default_schedule constant
    (written since the setting existed) or without it (before): resumed with no schedule named, it stays
    constant, without dropout."""
    run = tmp_path / "run"
    assert train(data, run, "--max-steps", "2", "--log-every", "1", "--eval-every", "2", "--schedule", "constant") == 0
    path = run / "config.json"
    config = json.loads(path.read_text())
    assert config["train"]["default_schedule"] == "cosine"        # this version's; the old one wrote constant
    if written is None:
        del config["train"]["default_schedule"]
    else:
        config["train"]["default_schedule"] = written
    assert config["network"]["dropout"] == 0.2
    config["network"]["dropout"] = 0.0
    path.write_text(json.dumps(config, indent=1))
    assert main(["train", "--resume", str(run), "--max-steps", "4", "--quiet"]) == 0
    assert {s: lr for s, lr in saved.rates(run).items() if s > 2} == {3: 0.01, 4: 0.01}
    resumed = json.loads(path.read_text())
    assert (resumed["train"]["schedule"], resumed["network"]["dropout"]) == ("constant", 0.0)



def test_the_segment_benchmark_passes_flags_and_reports_the_best_validation(tmp_path):
    text = load_bundled()[:4000]
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    load_benchmark("segment").main([str(tmp_path / "t.txt"), "--models", "task", "--steps", "30", "--seed", "1",
                           "--out", str(tmp_path / "w"), "--json", str(tmp_path / "r.json"),
                           "--flags", BENCH_FLAGS])
    row = json.loads((tmp_path / "r.json").read_text())["rows"][0]
    assert "--max-steps 30 --seed 1 --out" in row["command"]
    assert row["command"].endswith("--quiet " + BENCH_FLAGS)
    assert read_conll(tmp_path / "w" / "test.conll") == segmentation_examples(split(text, 0.1)[1])
    valid = {r["step"]: r["valid_boundary_f1"] for r in saved.log(tmp_path / "w" / "run") if "valid_boundary_f1" in r}
    assert sorted(valid) == [10, 20, 30] and row["valid_boundary_f1"] == round(valid[row["best_step"]], 4)
    assert row["valid_boundary_f1"] == round(max(valid.values()), 4) > 0     # it learned something in 30 steps


@pytest.mark.parametrize("flags, message", [
    (["--models", "task", "--hidden", "8"], "--hidden sets the uni, bi and output models; --models task trains "
                                            "with unroll train's flags: put them in --flags"),
    (["--models", "bi", "--steps", "5"], "--steps acts only with --models task"),
])
def test_the_segment_benchmark_refuses_a_flag_no_model_reads(tmp_path, capsys, flags, message):
    (tmp_path / "t.txt").write_text("to be or not\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        load_benchmark("segment").main([str(tmp_path / "t.txt"), *flags])
    assert stop.value.code == 2 and capsys.readouterr().err.strip().endswith(message)
