"""The classify defaults of issue #30 (docs/tune.md, "Classification defaults"): a bidirectional GRU 100,
embedding 128, max readout, dropout 0.5 / 0.3, batch 50, Adam 3e-3, clip 5, words seen once as <unk>
(--min-count 2), and, with no schedule named, the rate decaying by cosine to the end of the budget (the last
step of --max-steps, else the --max-time deadline, tested with the other cosine tasks in
tests/train/test_default_schedule.py); a classify run folder written before (a constant rate, min count 1)
resumes as it ran; the sentiment benchmark's --flags reach the classifier's command and each fold reports its
best checkpoint's validation accuracy."""

import json
import math
import shutil
from pathlib import Path

import pytest

from unroll.cli import main
from unroll.runs import RunFolder
from unroll.tune.spec import train_settings

from tests import saved
from tests.tasks.helpers import load_benchmark, sentiment_lines, write_sentiment_tsv

ROOT = Path(__file__).resolve().parents[2]
FORMAT3 = ROOT / "tests" / "fixtures" / "format3-classify"
SMALL = ["--hidden", "4", "--embedding", "3", "--batch", "8", "--lr", "0.01", "--quiet"]


@pytest.fixture()
def data(tmp_path) -> Path:
    path = tmp_path / "train.tsv"
    write_sentiment_tsv(path)
    return path



def test_the_defaults_are_pinned():
    settings, train = train_settings("classify", [])
    net, own = settings["network"], settings["classify"]
    assert (net.cell, net.hidden_size, net.num_layers, net.bidirectional, net.embedding_size, net.dropout) == \
        ("gru", 100, 1, True, 128, 0.5)
    assert (own.readout, own.embedding_dropout, own.min_count, own.members) == ("max", 0.3, 2, 3)
    assert (train.batch_size, train.optimizer, train.lr, train.clip, train.min_lr) == (50, "adam", 3e-3, 5.0, 0.0)
    assert (train.schedule, train.eval_every) == ("cosine", 200)


def test_classify_decays_by_cosine_to_its_last_step(data, tmp_path):
    assert main(["train", "--task", "classify", "--data", str(data), *SMALL, "--max-steps", "6",
                 "--log-every", "1", "--eval-every", "3", "--out", str(tmp_path / "run")]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert (config["schedule"], config["total_steps"]) == ("cosine", 6)
    assert saved.rates(tmp_path / "run") == {s: 0.01 * 0.5 * (1 + math.cos(math.pi * s / 6)) for s in range(1, 7)}



def test_schedule_constant_keeps_the_old_rate(data, tmp_path):
    assert main(["train", "--task", "classify", "--data", str(data), *SMALL, "--max-steps", "4", "--log-every",
                 "1", "--eval-every", "4", "--schedule", "constant", "--out", str(tmp_path / "run")]) == 0
    assert set(saved.rates(tmp_path / "run").values()) == {0.01}


def test_a_run_folder_of_the_old_defaults_resumes_at_its_constant_rate(tmp_path, monkeypatch):
    """tests/fixtures/format3-classify was written with the old defaults (schedule constant, lr 3e-3)."""
    folder = Path(shutil.copytree(FORMAT3, tmp_path / "run"))
    monkeypatch.chdir(folder)                      # its config.json names data.tsv relative to the folder
    assert RunFolder(folder).read_config()["train"]["schedule"] == "constant"
    assert RunFolder(folder).read_config()["classify"]["min_count"] == 1      # and its vocabulary keeps every word
    assert main(["train", "--resume", str(folder), "--max-steps", "4", "--quiet"]) == 0
    resumed = {s: lr for s, lr in saved.rates(folder).items() if s > 2}
    assert resumed == {3: 3e-3, 4: 3e-3}
    assert json.loads((folder / "config.json").read_text())["train"]["schedule"] == "constant"



def test_the_sentiment_benchmark_passes_flags_and_reports_the_best_validation(tmp_path):
    folder = tmp_path / "rt"
    folder.mkdir()
    lines = sentiment_lines(200, seed=1)
    for label in ("pos", "neg"):
        (folder / f"rt-polarity.{label}").write_text("".join(t + "\n" for c, t in lines if c == label),
                                                     encoding="latin-1")
    bench = load_benchmark("sentiment")
    bench.main([str(folder), "--folds", "0", "--models", "scratch", "--steps", "6", "--out", str(tmp_path / "w"),
                "--json", str(tmp_path / "r.json"), "--flags", "--hidden 4 --embedding 3 --eval-every 2"])
    row = json.loads((tmp_path / "r.json").read_text())["rows"][0]["scratch"]
    assert row["command"].endswith("--quiet --hidden 4 --embedding 3 --eval-every 2")
    run_dir = tmp_path / "w" / "fold0" / "scratch"
    valid = {r["step"]: r["valid_accuracy"] for r in saved.log(run_dir) if "valid_accuracy" in r}
    assert sorted(valid) == [2, 4, 6] and row["valid_acc"] == round(valid[row["best_step"]], 4)
    assert row["valid_acc"] == round(max(valid.values()), 4)
