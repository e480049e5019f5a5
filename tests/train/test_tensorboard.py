"""`unroll train --tensorboard` writes the metrics as TensorBoard scalars; tensorboard's own reader
gets back exactly the numbers of metrics.jsonl, step by step."""

import json

import pytest

from unroll.cli import main
from unroll.train.tensorboard import tag_of

TEXT = "the quick brown fox jumps over the lazy dog\n" * 40


def scalars(folder) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_events_hold_the_metrics_log(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "t.txt"), "--hidden", "8", "--layers", "1", "--seq-len", "8",
                 "--batch", "4", "--max-steps", "6", "--eval-every", "3", "--tensorboard", "--quiet",
                 "--out", str(out)]) == 0
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    got = scalars(out / "tensorboard")
    assert {"train/loss", "valid/loss", "valid/bits_per_char", "grad_norm", "lr", "tokens_per_s"} <= set(got)
    for key in ("train_loss", "valid_loss", "grad_norm", "lr"):
        expect = [(r["step"], r[key]) for r in log if r.get(key) is not None]
        assert [s for s, _ in got[tag_of(key)]] == [s for s, _ in expect]
        assert [v for _, v in got[tag_of(key)]] == pytest.approx([v for _, v in expect], rel=1e-6)  # float32 in the file
    assert [s for s, _ in got["valid/loss"]] == [3, 6]


def test_without_the_flag_no_event_files(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    assert main(["train", "--data", str(tmp_path / "t.txt"), "--hidden", "4", "--layers", "1", "--seq-len", "8",
                 "--batch", "4", "--max-steps", "2", "--quiet", "--out", str(tmp_path / "run")]) == 0
    assert not (tmp_path / "run" / "tensorboard").exists()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["tensorboard"] is False


def test_a_resumed_run_keeps_writing_events(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "t.txt"), "--hidden", "4", "--layers", "1", "--seq-len", "8",
                 "--batch", "4", "--max-steps", "3", "--eval-every", "3", "--tensorboard", "--quiet",
                 "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out), "--max-steps", "6", "--quiet"]) == 0
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    got = scalars(out / "tensorboard")
    assert got["train/loss"] == [(r["step"], pytest.approx(r["train_loss"], rel=1e-6)) for r in log if "train_loss" in r]   # not the resume-with-changes event line
    assert [s for s, _ in got["valid/loss"]] == [3, 6]
