"""A run folder written in config.json format 3 (tests/fixtures/format3-classify, made with main 5690e44:
a bidirectional GRU 4 classifier, embedding 3, 2 steps on 40 generated lines) loads, evaluates and resumes;
the upgrade to format 4 moves the task's network settings into the ``network`` section and leaves the file
on disk as it was."""

import json
import shutil
from pathlib import Path

import pytest

from unroll.cli import main
from unroll.runs import RunFolder, run

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "format3-classify"


@pytest.fixture()
def folder(tmp_path, monkeypatch) -> Path:
    path = Path(shutil.copytree(FIXTURE, tmp_path / "run"))
    monkeypatch.chdir(path)                       # config.json names its data.tsv relative to the folder
    return path


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_format_3_is_upgraded_when_read_and_the_file_is_left_alone(folder):
    info = RunFolder(folder).read_config()
    assert info["format"] == 5 and info["task"] == "classify"
    assert info["network"] == {"cell": "gru", "hidden_size": 4, "num_layers": 1, "bidirectional": True,
                               "embedding_size": 3, "dropout": 0.5, "locked_dropout": False, "weight_drop": 0.0}
    assert not {"hidden_size", "cell", "dropout", "weight_drop"} & set(info["classify"])
    assert info["classify"]["readout"] == "max" and info["classify"]["embedding_dropout"] == 0.3
    assert json.loads((folder / "config.json").read_text())["format"] == 3
    task, model, loaded = run.load(folder)
    assert loaded["step"] == 2 and task.settings["network"].hidden_size == 4
    assert model.params["embed.W"].shape == (11, 3) and model.params["layer0.gru_reverse.W_h"].shape == (4, 12)


def test_a_format_3_run_evaluates_to_its_logged_loss_and_resumes(folder, capsys):
    logged = records(folder)[-1]["valid_loss"]
    assert main(["eval", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(logged, rel=1e-6)
    assert main(["train", "--resume", str(folder), "--max-steps", "4", "--quiet"]) == 0
    log = [r for r in records(folder) if "event" not in r]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert run.load(folder)[2]["step"] == 4


def test_the_upgrade_moves_each_tasks_network_and_renames_the_skip_delay():
    from unroll.tasks.upgrade import upgrade_v3
    tag = upgrade_v3({"format": 3, "task": "tag", "tag": {"data": "t.conll", "hidden_size": 8, "cell": "gru",
                                                          "bidirectional": False, "unidirectional": True}})
    assert tag == {"format": 4, "task": "tag", "tag": {"data": "t.conll"},
                   "network": {"hidden_size": 8, "cell": "gru", "bidirectional": False}}
    both_ways = upgrade_v3({"format": 3, "task": "tag", "tag": {"bidirectional": False, "unidirectional": False}})
    assert both_ways["network"] == {"bidirectional": True}          # format 3's tag read both ways by default
    longterm = upgrade_v3({"format": 3, "task": "longterm", "model": {"cell": "skip", "hidden": 8, "skip_d": 5}})
    assert longterm["model"] == {"cell": "skip", "hidden": 8, "skip_every": 5} and "network" not in longterm
    lm = upgrade_v3({"format": 3, "task": "lm", "model": {"hidden_size": 4, "skip_every": 3}})
    assert lm == {"format": 4, "task": "lm", "network": {"hidden_size": 4, "skip_every": 3}}


SEQ2SEQ = Path(__file__).resolve().parents[1] / "fixtures" / "format3-seq2seq"
# train_loss at steps 11, 20 and 40 of the same run made in one go by main 5690e44 (its own pair batcher;
# 54 training pairs in batches of 4: 14 batches per epoch, so step 40 is in the third epoch)
UNINTERRUPTED = {11: 2.666271448135376, 20: 2.5806784629821777, 40: 2.693197250366211}


def test_a_seq2seq_run_begun_before_bucket_batches_resumes_in_its_own_order(tmp_path, monkeypatch):
    """The fixture stopped at step 10 under main 5690e44, whose pair batcher saved its epoch's batches and its
    generator; resumed to step 40 here it draws the batches the old run drew (data/buckets.py legacy_epoch)."""
    folder = Path(shutil.copytree(SEQ2SEQ, tmp_path / "run"))
    monkeypatch.chdir(folder)
    assert main(["train", "--resume", str(folder), "--max-steps", "40", "--quiet"]) == 0
    losses = {r["step"]: r["train_loss"] for r in records(folder) if "event" not in r}
    assert {s: losses[s] for s in UNINTERRUPTED} == pytest.approx(UNINTERRUPTED, rel=1e-5)
    assert main(["train", "--resume", str(folder), "--max-steps", "41", "--quiet"]) == 0   # and again, from its state
    assert run.load(folder)[2]["step"] == 41
