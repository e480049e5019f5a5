"""A run folder written in config.json format 2 (tests/fixtures/format2-lm, made by unroll 0.2.0 before
format 3: a 1x4 LSTM on the bundled corpus, 2 steps, --lr 0.01 --lr-decay 0.5 --lr-decay-every 1
--lr-decay-start 1) loads, evaluates and resumes; the upgrade renames the schedule's settings to
LRSchedule's and leaves the file on disk as it was."""

import json
import shutil
from pathlib import Path

import pytest

from unroll.cli import main
from unroll.runs import RunFolder, run
from unroll.train.schedule import LRSchedule

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "format2-lm"


@pytest.fixture()
def folder(tmp_path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "run"))


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_format_2_is_upgraded_when_read_and_the_file_is_left_alone(folder):
    info = RunFolder(folder).read_config()
    assert info["format"] == 5 and info["task"] == "lm"
    schedule = {k: info["train"][k] for k in ("schedule", "decay_rate", "decay_every", "decay_start")}
    assert schedule == {"schedule": "exponential", "decay_rate": 0.5, "decay_every": 1, "decay_start": 1}
    assert not {"lr_decay", "lr_decay_every", "lr_decay_start"} & set(info["train"])
    assert json.loads((folder / "config.json").read_text())["format"] == 2
    task, model, loaded = run.load(folder)
    assert loaded["step"] == 2 and task.settings["train"].decay_rate == 0.5 and model.params["embed.W"].shape == (65, 4)


def test_a_format_2_run_evaluates_to_its_logged_loss_and_resumes_on_its_schedule(folder, capsys):
    logged = records(folder)[-1]["valid_loss"]
    assert main(["eval", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(logged, rel=1e-6)
    assert main(["train", "--resume", str(folder), "--max-steps", "4", "--quiet"]) == 0
    log = [r for r in records(folder) if "event" not in r]          # not the budget change --resume records
    schedule = LRSchedule(0.01, "exponential", decay_rate=0.5, decay_every=1, decay_start=1)
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert [r["lr"] for r in log] == [schedule.lr_at(r["step"]) for r in log] == [0.01, 0.005, 0.0025, 0.00125]
    assert run.load(folder)[2]["step"] == 4
